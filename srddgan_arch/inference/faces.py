"""Face mode: facexlib aligns the faces of a photo, a face model restores each crop, the crops are pasted back."""
import json
from os import path as osp
from typing import NamedTuple

import numpy as np
import torch

from srddgan_arch.data.image_io import in_mode_of, to_uint8
from srddgan_arch.utils.checkpoint import locate_weights

# file names facexlib's FaceRestoreHelper loads at construction (the parser is loaded even when it is not used)
FACE_DETECTOR_FILES = {
    'retinaface_resnet50': 'detection_Resnet50_Final.pth',
    'retinaface_mobile0.25': 'detection_mobilenet0.25_Final.pth',
}
FACE_PARSER_FILE = 'parsing_parsenet.pth'


def facexlib_weights_dir():
    """Folder where facexlib caches its detection and parsing weights (``<facexlib package>/weights``)."""
    import facexlib
    return osp.join(osp.dirname(osp.abspath(facexlib.__file__)), 'weights')


def build_face_helper(upscale_factor, face_size=128, det_model='retinaface_resnet50', model_rootpath=None,
                      device='cpu'):
    """facexlib's ``FaceRestoreHelper`` after checking that its weights exist (it would download them otherwise).

    Args:
        upscale_factor (float): Scale of the output relative to the input photo.
        face_size (int): Size of the aligned face crop (the face model's HR size). Default: 128.
        det_model (str): 'retinaface_resnet50' or 'retinaface_mobile0.25'. Default: 'retinaface_resnet50'.
        model_rootpath (str | None): Folder with the detection and parsing weights. Default: None (facexlib's).
        device (str): Device of the detector. Default: 'cpu'.

    Returns:
        FaceRestoreHelper: The helper.
    """
    from facexlib.utils.face_restoration_helper import FaceRestoreHelper
    if det_model not in FACE_DETECTOR_FILES:
        raise ValueError(f'face det_model must be one of {sorted(FACE_DETECTOR_FILES)}, got {det_model!r}.')
    root = model_rootpath or facexlib_weights_dir()
    needed = (FACE_DETECTOR_FILES[det_model], FACE_PARSER_FILE)
    for name in needed:
        locate_weights(name, folder=root, what=f'Face mode (facexlib weights {" and ".join(needed)})',
                       source="facexlib's release page: v0.1.0 detection, v0.2.2 parsing",
                       option='--face_weights_dir (its folder)')
    return FaceRestoreHelper(upscale_factor, face_size=face_size, crop_ratio=(1, 1), det_model=det_model,
                             save_ext='png', use_parse=False, device=torch.device(device), model_rootpath=root)


def restore_faces(face_upsampler, helper, img, background=None, landmarks=None, seed=None):
    """Face mode: align each face, super-resolve its downscaled crop with the face model, paste it back.

    The aligned crop (``helper.face_size``) is downscaled by the face model's scale with MATLAB bicubic (the training
    degradation), super-resolved back to the crop size and pasted with facexlib's soft mask on the background.

    Args:
        face_upsampler (srddgan_arch.inference.upsampler.SRDDGANer): The face model (e.g. x8, 16 -> 128).
        helper (FaceRestoreHelper): From :func:`build_face_helper`.
        img (ndarray): Input photo, uint8 BGR (H, W, 3).
        background (ndarray | None): Upscaled background, uint8 BGR at the output size. Default: None (Lanczos).
        landmarks (list | None): Five (x, y) landmarks per face (eyes, nose, mouth corners); None runs the detector.
            Default: None.
        seed (int | None): Sampling seed. Default: None.

    Returns:
        tuple[ndarray, int]: The restored photo (uint8 BGR) and the number of faces.
    """
    from basicsr.utils.matlab_functions import imresize
    helper.clean_all()
    helper.read_image(img)
    if landmarks is None:
        helper.get_face_landmarks_5(only_center_face=False, eye_dist_threshold=5)
    else:
        helper.all_landmarks_5 = [np.asarray(points, dtype=np.float32).reshape(5, 2) for points in landmarks]
    helper.align_warp_face()
    for face in helper.cropped_faces:
        lq = imresize(face.astype(np.float32) / 255, 1 / face_upsampler.scale)
        restored = face_upsampler.enhance(np.clip(lq, 0, 1), seed=seed)
        helper.add_restored_face(to_uint8(restored))
    helper.get_inverse_affine()
    return helper.paste_faces_to_input_image(upsample_img=background), len(helper.cropped_faces)


class FaceMode(NamedTuple):
    """Face mode of ``srddgan-infer``: the face model, facexlib's helper, and the landmarks given instead of the
    detector.

    Args:
        upsampler (SRDDGANer): The face model.
        helper (FaceRestoreHelper): From :func:`build_face_helper`.
        landmarks (dict | None): Image file name -> five landmarks per face; None: the detector finds them.
    """

    upsampler: object
    helper: object
    landmarks: dict | None

    def restore(self, name, image, background, seed):
        """The faces of one image restored on its upscaled background, in the image's mode.

        Args:
            name (str): The image's file name (its key in ``landmarks``).
            image (DecodedImage): The image.
            background (ndarray | None): Its upscaled colour image, float BGR at the output size; None: Lanczos.
            seed (int | None): Sampling seed.

        Returns:
            DecodedImage: The result.
        """
        landmarks = self.landmarks.get(name) if self.landmarks else None
        background = None if background is None else to_uint8(background)
        restored, _ = restore_faces(self.upsampler, self.helper, to_uint8(image.img), background, landmarks, seed)
        return in_mode_of(image, restored.astype(np.float32) / 255)


def build_face_mode(face_upsampler, upscale_factor, face_size, det_model, weights_dir=None, landmarks_file=None):
    """Face mode from the face model and ``srddgan-infer``'s face options.

    Args:
        face_upsampler (SRDDGANer): The face model (``--face_opt``, ``--face_model_path``).
        upscale_factor (float): Scale of the output relative to the input photo.
        face_size (int): Aligned crop size.
        det_model (str): facexlib's detector.
        weights_dir (str | None): facexlib's weights folder. Default: None (facexlib's).
        landmarks_file (str | None): JSON file of landmarks (``--face_landmarks``). Default: None (the detector).

    Returns:
        FaceMode: Face mode.
    """
    helper = build_face_helper(upscale_factor, face_size, det_model, weights_dir, face_upsampler.device)
    landmarks = None
    if landmarks_file:
        with open(landmarks_file) as f:
            landmarks = json.load(f)
    return FaceMode(face_upsampler, helper, landmarks)
