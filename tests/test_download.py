"""srddgan's downloader: what a weight file must be to enter the cache (fast, on files), and what a server can do
wrong (slow: a server on 127.0.0.1 in a thread sends cut-off bodies, stalls, web pages, wrong hashes, large files)."""
import hashlib
import http.server
import io
import os
import threading

import pytest
import torch

from srddgan_arch.utils import download as downloader
from srddgan_arch.utils.checkpoint import fetch_weights, load_checkpoint


def torch_bytes(value=1.0):
    """A small torch checkpoint, as bytes."""
    buffer = io.BytesIO()
    torch.save({'params': {'w': torch.full((64,), value)}}, buffer)
    return buffer.getvalue()


def safetensors_bytes():
    from safetensors.torch import save
    return save({'w': torch.ones(64)})


@pytest.mark.parametrize('content, problem', [
    (torch_bytes(), None),
    (torch_bytes()[:-200], 'a torch checkpoint cut off'),
    (safetensors_bytes(), None),
    (safetensors_bytes()[:-10], 'cut off: '),
    (b'<!DOCTYPE html><html><body>Sign in</body></html>', 'a web page (HTML)'),
    (b'', 'empty'),
    (b'garbage' * 10, 'neither a torch checkpoint nor a safetensors file')])
def test_weight_file_format_is_checked_without_loading(tmp_path, content, problem):
    """A complete torch zip checkpoint or safetensors file passes; a cut-off one, a web page or anything else is
    named."""
    path = tmp_path / 'w.bin'
    path.write_bytes(content)
    found = downloader.weight_file_problem(str(path))
    assert found == problem if problem is None else problem in found


def test_download_settings_come_from_the_environment(monkeypatch):
    """SRDDGAN_MAX_DOWNLOAD_MB and SRDDGAN_DOWNLOAD_TIMEOUT set the cap and the timeout; a bad value is one line."""
    assert downloader.max_download_bytes() == downloader.DEFAULT_MAX_DOWNLOAD_MB * 2**20
    monkeypatch.setenv('SRDDGAN_MAX_DOWNLOAD_MB', '4096')
    monkeypatch.setenv('SRDDGAN_DOWNLOAD_TIMEOUT', '2.5')
    assert downloader.max_download_bytes() == 4096 * 2**20 and downloader.download_timeout() == 2.5
    monkeypatch.setenv('SRDDGAN_MAX_DOWNLOAD_MB', 'lots')
    with pytest.raises(downloader.DownloadError, match="SRDDGAN_MAX_DOWNLOAD_MB='lots': expected a positive number"):
        downloader.max_download_bytes()


class Routes(http.server.BaseHTTPRequestHandler):
    """Serves ``routes``: path -> (content type, body, bytes announced or None, bytes sent or None, stall)."""

    routes, served, release = {}, [], threading.Event()

    def do_GET(self):
        self.served.append(self.path)
        content_type, body, announced, sent, stall = self.routes[self.path]
        self.send_response(200)
        self.send_header('Content-Type', content_type)
        if announced is not None:
            self.send_header('Content-Length', str(announced))
        self.end_headers()
        self.wfile.flush()
        if stall:
            self.release.wait(10)
            return
        self.wfile.write(body[:sent])
        self.close_connection = True

    def log_message(self, *args):
        pass


@pytest.fixture
def server(hub_dir, monkeypatch):
    """The routes' server on 127.0.0.1 with the real downloader and a 1 s timeout: (base address, routes, served)."""
    monkeypatch.setattr(downloader, 'download_url_to_file', DOWNLOAD)
    monkeypatch.setenv('SRDDGAN_DOWNLOAD_TIMEOUT', '1')
    Routes.routes, Routes.served = {}, []
    Routes.release.clear()
    httpd = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Routes)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f'http://127.0.0.1:{httpd.server_port}', Routes.routes, Routes.served
    Routes.release.set()
    httpd.shutdown()
    httpd.server_close()


DOWNLOAD = downloader.download_url_to_file
BINARY = 'application/octet-stream'
GOOD = torch_bytes()
CASES = {
    'cut off': ('/net.pth', (BINARY, GOOD, len(GOOD), len(GOOD) // 2, False), r'cut off: \d+ of the \d+ bytes'),
    'stall': ('/net.pth', (BINARY, GOOD, len(GOOD), None, True), r'no answer within 1 s \(SRDDGAN_DOWNLOAD_TIMEOUT'),
    'login page': ('/net.pth', ('text/html', b'<html>Sign in</html>', 20, None, False), 'the server sent a web page'),
    'page as binary': ('/net.pth', (BINARY, b'<!doctype html><p>Sign in', None, None, False),
                       r'the file received is a web page \(HTML\)'),
    'wrong hash': ('/net-0123abcd.pth', (BINARY, GOOD, len(GOOD), None, False),
                   r'wrong SHA-256: [0-9a-f]{8}\.\.\., the name says 0123abcd'),
    'oversize': ('/net.pth', (BINARY, GOOD, len(GOOD), None, False), r'0 MiB, more than the 0 MiB cap \(SRDDGAN_MAX'),
    'oversize unannounced': ('/net.pth', (BINARY, GOOD, None, None, False), r'more than the 0 MiB cap'),
}


@pytest.mark.slow
@pytest.mark.parametrize('case', CASES)
def test_a_failed_download_leaves_nothing_and_names_the_address(server, hub_dir, monkeypatch, case):
    """A cut-off body, a server that stalls after its headers, a login page, the wrong hash or a file over the cap
    is one line naming the address and the reason; nothing (not even a partial file) is left in the cache."""
    base, routes, _ = server
    path, route, reason = CASES[case]
    routes[path] = route
    if case.startswith('oversize'):
        monkeypatch.setenv('SRDDGAN_MAX_DOWNLOAD_MB', str(len(GOOD) / 2 / 2**20))
    with pytest.raises(OSError, match=rf'^Weights: downloading {base}{path} failed \({reason}') as error:
        fetch_weights(f'{base}{path}')
    assert '\n' not in str(error.value)
    assert not hub_dir.exists() or os.listdir(hub_dir) == []


@pytest.mark.slow
def test_a_good_download_and_a_cut_off_file_in_the_cache(server, hub_dir):
    """A complete file with the right hash enters the cache and is used from there; a cut-off file found in the
    cache (an older downloader's) is downloaded again instead of failing every later run."""
    base, routes, served = server
    name = f'net-{hashlib.sha256(GOOD).hexdigest()[:8]}.pth'
    routes[f'/{name}'] = (BINARY, GOOD, len(GOOD), None, False)
    for _ in range(2):
        assert torch.equal(load_checkpoint(f'{base}/{name}')['params']['w'], torch.ones(64))
    assert served == [f'/{name}'] and (hub_dir / name).read_bytes() == GOOD
    (hub_dir / 'cut.pth').write_bytes(GOOD[:len(GOOD) // 2])
    routes['/cut.pth'] = (BINARY, GOOD, len(GOOD), None, False)
    assert fetch_weights(f'{base}/cut.pth') == str(hub_dir / 'cut.pth')
    assert (hub_dir / 'cut.pth').read_bytes() == GOOD and served[-1] == '/cut.pth'
    assert sorted(os.listdir(hub_dir)) == sorted([name, 'cut.pth'])
