"""The kinds-of-photograph set (srddgan_tools/photo_kinds.py) and the perceptual rule and per-kind table of the
perception-distortion study (srddgan_tools/kind_scores.py)."""
import os

import cv2
import numpy as np
import pytest
from conftest import load_script

from srddgan_tools import kind_scores, photo_kinds
from srddgan_tools.demo import HELDOUT_PHOTOS, TRAIN_PHOTOS, VAL_PHOTOS
from srddgan_tools.photo_kinds import Crop, build_kinds_dataset, check_photos, kind_of
from srddgan_tools.prepare import mark_incomplete


def _loader(seed, size=400):
    """A smooth random RGB photograph of ``size`` pixels."""
    return lambda: np.random.default_rng(seed).integers(0, 256, (size, size, 3)).astype(np.uint8)


TINY = {'val': [Crop('grass', 'a', _loader(0), [(0, 0), (200, 200)]), Crop('water', 'b', _loader(1), [(10, 10)])],
        'heldout': [Crop('grass', 'c', _loader(2), [(0, 0)]), Crop('water', 'd', _loader(3), [(40, 0)])]}


def test_kinds_set_has_both_splits_sizes_and_kinds_and_is_idempotent(tmp_path):
    """128-px validation and 320-px held-out crops with their x4 LR, the kind in each name; a second call skips."""
    out = tmp_path / 'kinds'
    assert build_kinds_dataset(str(out), photos=TINY) == {'output_dir': str(out), 'skipped': False, 'val': 3,
                                                          'heldout': 2}
    for split, size in (('val', 128), ('heldout', 320)):
        names = sorted(os.listdir(out / split / 'HR'))
        assert names == sorted(os.listdir(out / split / 'LR_bicubic_X4'))
        for name in names:
            assert cv2.imread(str(out / split / 'HR' / name)).shape == (size, size, 3)
            assert cv2.imread(str(out / split / 'LR_bicubic_X4' / name)).shape == (size // 4, size // 4, 3)
    assert sorted(os.listdir(out / 'val' / 'HR')) == ['grass__a_1.png', 'grass__a_2.png', 'water__b_1.png']
    assert [kind_of(n) for n in sorted(os.listdir(out / 'heldout' / 'HR'))] == ['grass', 'water']
    stamp = os.path.getmtime(out / 'val' / 'HR' / 'grass__a_1.png')
    assert build_kinds_dataset(str(out), photos=TINY)['skipped']
    assert os.path.getmtime(out / 'val' / 'HR' / 'grass__a_1.png') == stamp


def test_interrupted_kinds_build_starts_again(tmp_path):
    """A build stopped half-way (its incomplete marker left) is rebuilt, not skipped."""
    out = tmp_path / 'kinds'
    build_kinds_dataset(str(out), photos=TINY)
    (out / 'val' / 'HR' / 'grass__a_1.png').unlink()
    mark_incomplete([str(out / 'val')])
    assert not build_kinds_dataset(str(out), photos=TINY)['skipped']
    assert (out / 'val' / 'HR' / 'grass__a_1.png').is_file()


def test_kinds_refuse_shared_or_training_photographs(tmp_path):
    """A photograph in both splits, or one the demo trains on, is refused; so is a crop outside its photograph."""
    with pytest.raises(ValueError, match='both validation and held-out'):
        check_photos({'val': TINY['val'], 'heldout': [Crop('grass', 'a', _loader(0), [(0, 0)])]})
    with pytest.raises(ValueError, match='training photographs'):
        check_photos({'val': [Crop('grass', 'astronaut', _loader(0), [(0, 0)])], 'heldout': []}, TRAIN_PHOTOS)
    with pytest.raises(ValueError, match='not 320x320'):
        outside = {'val': [], 'heldout': [Crop('x', 'e', _loader(4), [(100, 0)])]}
        build_kinds_dataset(str(tmp_path / 'k'), photos=outside)


def test_shipped_kinds_table_is_disjoint_and_covers_the_kinds():
    """The real table: no photograph in both splits, none of the demo's (training, validation or held-out), the four
    kinds of issue 37 among the validation kinds, every held-out kind's photograph committed or shipped."""
    check_photos(photo_kinds.KIND_PHOTOS, [*TRAIN_PHOTOS, *VAL_PHOTOS, *HELDOUT_PHOTOS])
    assert {'foliage', 'grass', 'water', 'fabric'} <= {crop.kind for crop in photo_kinds.KIND_PHOTOS['val']}
    for crop in photo_kinds.KIND_PHOTOS['heldout']:
        assert crop.loader().shape[:2] >= (320, 320)


@pytest.mark.parametrize('name, kind', [('foliage__palm_tree_1.png', 'foliage'), ('chelsea_2.png', 'fur'),
                                        ('grace_hopper.png', 'portrait'), ('moon.png', 'astronomy'),
                                        ('unknown.png', 'other')])
def test_kind_of_names_the_kind_of_both_sets(name, kind):
    """Kinds come from the name (``<kind>__...``) or, for the demo's photographs, from the photograph."""
    assert kind_of(name) == kind


def test_split_means_are_recombined_from_the_kinds():
    """The split's mean is the image-weighted mean of the kinds' means."""
    per_kind = {'a': {'psnr': 30.0, 'niqe': 5.0}, 'b': {'psnr': 27.0}}
    assert kind_scores.combine(per_kind, {'a': 1, 'b': 2}) == {'psnr': 28.0, 'niqe': 5.0}


def test_rule_and_standing_per_kind():
    """The rule picks the lowest SWD 0.2 dB above bicubic; the table gives each kind's values and whether the chosen
    model meets both targets there."""
    results = {'bicubic': {'psnr': 28.0, 'niqe': 8.0, 'swd': 0.2}, 'ibp': {'psnr': 28.5, 'niqe': 7.0, 'swd': 0.1},
               'm0': {'psnr': 29.0, 'niqe': 6.5, 'swd': 0.09}, 'm1': {'psnr': 28.3, 'niqe': 5.5, 'swd': 0.06},
               'm2': {'psnr': 28.1, 'niqe': 5.0, 'swd': 0.04}}
    assert kind_scores.choose_by_rule(results, ['m0', 'm1', 'm2']) == 'm1'
    gain, under, met = kind_scores.standing(results, 'm1')
    assert gain == pytest.approx(0.3) and under == pytest.approx(1.5) and met
    assert kind_scores.standing({key: {'psnr': v['psnr']} for key, v in results.items()}, 'm1')[1:] == (None, False)
    hard = dict(results, m1={'psnr': 27.0, 'niqe': 6.5, 'swd': 0.06})
    table = kind_scores.kind_table({'foliage': hard, 'grass': results}, {'foliage': 1, 'grass': 2},
                                   ['bicubic', 'ibp', 'm1'], 'm1')
    assert '| foliage (1) | m1 | 27.00 | 6.50 | 0.060 |' in table
    assert '| foliage | -1.00 | +0.50 | no |' in table and '| grass | +0.30 | +1.50 | yes |' in table


def test_study_choice_maps_the_rule_to_gan_weights():
    """perception_distortion.choose_perceptual returns the gan_weight of the rule's model."""
    study = load_script('perception_distortion')
    results = {'bicubic': {'psnr': 28.0}, 'SRDDGAN gan_weight 0': {'psnr': 29.0, 'swd': 0.09},
               'SRDDGAN gan_weight 0.5': {'psnr': 28.3, 'swd': 0.06}}
    assert study.choose_perceptual(results, [0, 0.5]) == 0.5
