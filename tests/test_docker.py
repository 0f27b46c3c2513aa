"""Docker cannot run here: the build context, the entrypoint and the compose files are
checked as files and scripts (the entrypoint really runs, under a fake root)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from docker.utils.build import exclude_paths

from anibridge_site.version import VERSION
from tests.processes import REPO

COMPOSE_FILES = ["docker/compose.yaml", "docker/compose.gluetun.yaml"]
ENTRYPOINT = REPO / "docker" / "entrypoint.sh"
DOWNLOADS_MOUNT = "${DOWNLOADS_HOST_DIR:-./downloads}:/downloads"


def _compose(name: str) -> dict:
    return yaml.safe_load((REPO / name).read_text())


# -- the build context ------------------------------------------------------------------


def build_context(root: Path) -> set[str]:
    """What `docker build -f docker/Dockerfile root` sends: .dockerignore applied as
    Docker applies it (docker-py's implementation of the rules)."""
    lines = (root / ".dockerignore").read_text().splitlines()
    patterns = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    return set(exclude_paths(str(root), patterns, dockerfile="docker/Dockerfile"))


SECRET_NAME = re.compile(
    r"(^|/)(\.env(\..+)?|secret_key|.*\.sqlite3.*|.*\.pem|.*\.key|celerybeat-schedule.*)$"
)


def _leaks(context: set[str]) -> list[str]:
    """Paths in the context that are local state or secrets."""
    return sorted(
        path
        for path in context
        if path.split("/")[0] in (".venv", "data", "downloads", ".git")
        or path.startswith("docker/downloads")
        or (SECRET_NAME.search(path) and path != ".env.example")
        or "__pycache__" in path
    )


def test_the_build_context_of_a_used_checkout_has_no_local_state_or_secrets(
    tmp_path: Path,
) -> None:
    # The repository's files, plus what `make run`, the quick start and Docker leave.
    tracked = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for name in filter(None, (t.decode() for t in tracked)):
        target = tmp_path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, target)
    used = {
        ".venv/lib/python3.11/site-packages/django/__init__.py": "",
        "data/anibridge.sqlite3": "",
        "data/anibridge.sqlite3-wal": "",
        "data/secret_key": "s3cr3t",
        "data/redis/appendonly.aof": "",
        "data/celerybeat-schedule": "",
        "data/downloads/Show.S01E01.mkv": "",
        "downloads/Show.S01E02.mkv": "",
        "docker/downloads/Show.S01E03.mkv": "",
        ".env": "QBIT_PASSWORD=hunter2",
        "docker/.env": "VPN_PRIVATE_KEY=abc",
        ".env.local": "SECRET_KEY=x",
        "catalog/__pycache__/index.cpython-311.pyc": "",
        "certs/server.pem": "",
        ".git/config": "",
    }
    for name, text in used.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    context = build_context(tmp_path)
    assert _leaks(context) == []
    # What the image runs is all there.
    needed = {
        "manage.py",
        "Procfile",
        "requirements/base.txt",
        "docker/Dockerfile",
        "docker/entrypoint.sh",
        "anibridge_site/supervisor.py",
        "anibridge_site/settings.py",
        "catalog/index.py",
        "strm/proxy.py",
        ".env.example",
    }
    assert needed <= context
    assert not any(p.startswith(("tests/", "bench/")) for p in context)


def test_the_build_context_of_this_checkout_has_no_local_state_or_secrets() -> None:
    context = build_context(REPO)
    assert _leaks(context) == []
    assert "anibridge_site/wsgi.py" in context


# -- the entrypoint, run under a fake root --------------------------------------------


STUBS = {
    # `id -u` says root until setpriv "switches" to the --reuid it was given.
    "id": '[ "$1" = "-u" ] && echo "${FAKE_UID:-0}" || /usr/bin/id "$@"\n',
    "chown": 'echo "chown $*" >> "$CALLS"\n',
    "setpriv": (
        'echo "setpriv $*" >> "$CALLS"\n'
        "for arg; do\n"
        '  case "$arg" in --reuid=*) FAKE_UID="${arg#--reuid=}"; export FAKE_UID ;; '
        "--) shift; break ;; esac\n"
        "  shift\n"
        "done\n"
        'exec "$@"\n'
    ),
}


class FakeRoot:
    def __init__(self, tmp_path: Path) -> None:
        self.tmp = tmp_path
        self.bin = tmp_path / "bin"
        self.bin.mkdir()
        for name, body in STUBS.items():
            path = self.bin / name
            path.write_text("#!/bin/sh\n" + body)
            path.chmod(0o755)
        self.calls = tmp_path / "calls.log"
        self.calls.touch()
        self.data = tmp_path / "data"
        self.downloads = tmp_path / "downloads"
        for name in ("anibridge.sqlite3", "redis/appendonly.aof"):
            (self.data / name).parent.mkdir(parents=True, exist_ok=True)
            (self.data / name).write_text("")
        (self.downloads / "Show").mkdir(parents=True)
        (self.downloads / "Show" / "Show.S01E01.mkv").write_text("")
        self.ran = tmp_path / "ran.txt"

    def run(self, **env: str) -> subprocess.CompletedProcess[str]:
        full = {
            "PATH": f"{self.bin}:{os.environ['PATH']}",
            "CALLS": str(self.calls),
            "DATA_DIR": str(self.data),
            "DOWNLOAD_DIR": str(self.downloads),
            "PUID": "4242",
            "PGID": "4343",
            "TZ": "Europe/Berlin",
            **env,
        }
        full = {k: v for k, v in full.items() if v != "<unset>"}
        command = f'echo "uid=$(id -u) home=$HOME tz=$TZ pwd=$PWD" > {self.ran}'
        return subprocess.run(
            [str(ENTRYPOINT), "sh", "-c", command],
            env=full,
            capture_output=True,
            text=True,
            timeout=30,
        )

    def chowned(self) -> list[str]:
        return [line for line in self.calls.read_text().splitlines() if line.startswith("chown")]

    def setpriv(self) -> list[str]:
        return [line for line in self.calls.read_text().splitlines() if line.startswith("setpriv")]


def test_entrypoint_gives_data_to_puid_pgid_and_runs_the_command_as_them(
    tmp_path: Path,
) -> None:
    root = FakeRoot(tmp_path)
    result = root.run()
    assert result.returncode == 0, result.stderr
    chowned = root.chowned()
    # Everything under DATA_DIR (CHOWN_RECURSIVE defaults to true)...
    in_data = sorted(
        path
        for line in chowned
        if line.startswith("chown -h 4242:4343 ")
        for path in line.split()[3:]
    )
    expected = [root.data, *root.data.rglob("*")]
    assert in_data == sorted(str(p) for p in expected)
    # ...and the downloads folder itself, never the files Sonarr shares in it.
    assert f"chown 4242:4343 {root.downloads}" in chowned
    assert not any("Show.S01E01.mkv" in line for line in chowned)
    assert root.setpriv() == [
        f"setpriv --reuid=4242 --regid=4343 --clear-groups -- sh -c "
        f'echo "uid=$(id -u) home=$HOME tz=$TZ pwd=$PWD" > {root.ran}'
    ]
    assert root.ran.read_text().split() == [
        "uid=4242",
        f"home={root.data}",
        "tz=Europe/Berlin",
        f"pwd={REPO}",
    ]
    assert "running as 4242:4343, TZ=Europe/Berlin" in result.stdout


def test_entrypoint_without_recursive_chown_changes_only_the_folders(tmp_path: Path) -> None:
    root = FakeRoot(tmp_path)
    result = root.run(CHOWN_RECURSIVE="false")
    assert result.returncode == 0, result.stderr
    assert root.chowned() == [
        f"chown 4242:4343 {root.data}",
        f"chown 4242:4343 {root.downloads}",
    ]
    assert "uid=4242" in root.ran.read_text()


def test_entrypoint_leaves_alone_what_already_belongs_to_puid_pgid(tmp_path: Path) -> None:
    root = FakeRoot(tmp_path)
    result = root.run(PUID=str(os.getuid()), PGID=str(os.getgid()))
    assert result.returncode == 0, result.stderr
    # The files are ours already (this test created them): only the downloads folder.
    assert root.chowned() == [f"chown {os.getuid()}:{os.getgid()} {root.downloads}"]


def test_entrypoint_defaults_to_1000_and_downloads_under_data(tmp_path: Path) -> None:
    root = FakeRoot(tmp_path)
    result = root.run(PUID="<unset>", PGID="<unset>", DOWNLOAD_DIR="<unset>")
    assert result.returncode == 0, result.stderr
    assert f"chown 1000:1000 {root.data / 'downloads'}" in root.chowned()
    assert root.setpriv()[0].startswith("setpriv --reuid=1000 --regid=1000 --clear-groups --")
    assert (root.data / "downloads").is_dir()


def test_entrypoint_started_as_a_user_only_runs_the_command(tmp_path: Path) -> None:
    root = FakeRoot(tmp_path)
    result = root.run(FAKE_UID="1000")
    assert result.returncode == 0, result.stderr
    assert root.chowned() == [] and root.setpriv() == []
    assert "uid=1000" in root.ran.read_text()


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"PUID": "abc"}, "PUID=abc is not a user id"),
        ({"PGID": "-1"}, "PGID=-1 is not a group id"),
        ({"CHOWN_RECURSIVE": "maybe"}, "CHOWN_RECURSIVE=maybe is not valid"),
    ],
)
def test_entrypoint_refuses_bad_values_in_one_line(
    tmp_path: Path, env: dict[str, str], message: str
) -> None:
    root = FakeRoot(tmp_path)
    result = root.run(**env)
    assert result.returncode == 64
    assert result.stderr.startswith("entrypoint: " + message) and result.stderr.count("\n") == 1
    assert not root.ran.exists() and root.chowned() == []


# -- compose, hostnames and paths -------------------------------------------------------


def test_compose_runs_anibridge_and_redis_with_healthchecks() -> None:
    plain = _compose("docker/compose.yaml")["services"]
    assert set(plain) == {"redis", "anibridge"}
    vpn = _compose("docker/compose.gluetun.yaml")["services"]
    assert set(vpn) == {"gluetun", "redis", "anibridge"}
    for services in (plain, vpn):
        for name, spec in services.items():
            if name != "gluetun":  # its image has its own HEALTHCHECK
                assert "healthcheck" in spec, name
        assert services["anibridge"]["depends_on"]["redis"]["condition"] == "service_healthy"


@pytest.mark.parametrize("name", COMPOSE_FILES)
def test_downloads_are_a_host_folder_at_the_same_path_as_in_sonarr(name: str) -> None:
    spec = _compose(name)["services"]["anibridge"]
    assert "anibridge-data:/data" in spec["volumes"]
    assert DOWNLOADS_MOUNT in spec["volumes"]
    environment = spec["environment"]
    assert environment["DATA_DIR"] == "/data"
    assert environment["DOWNLOAD_DIR"] == "/downloads"
    assert {environment[k] for k in ("PUID", "PGID", "TZ")} == {
        "${PUID:-1000}",
        "${PGID:-1000}",
        "${TZ:-UTC}",
    }
    sonarr = _readme_sonarr_service()
    assert DOWNLOADS_MOUNT in sonarr["volumes"]


def _readme_sonarr_service() -> dict:
    readme = (REPO / "README.md").read_text()
    blocks = re.findall(r"```yaml\n(.*?)```", readme, flags=re.DOTALL)
    services = [yaml.safe_load(b).get("services", {}) for b in blocks]
    [sonarr] = [s["sonarr"] for s in services if "sonarr" in s]
    return sonarr


def test_every_configured_path_lies_on_a_mount() -> None:
    mounts = {"/data", "/downloads"}
    example = (REPO / ".env.example").read_text()
    for variable in ("QBIT_PUBLIC_SAVE_PATH", "DOWNLOAD_DIR"):
        for value in re.findall(rf"^#? ?{variable}=(\S+)", example, flags=re.MULTILINE):
            assert any(value == m or value.startswith(m + "/") for m in mounts), value


def test_every_address_in_the_docs_is_a_host_that_exists() -> None:
    services = set(_compose("docker/compose.yaml")["services"]) | set(
        _compose("docker/compose.gluetun.yaml")["services"]
    )
    for doc in ("README.md", ".env.example"):
        text = (REPO / doc).read_text()
        hosts = set(re.findall(r"https?://([A-Za-z0-9.-]+):8000", text))
        assert hosts, doc
        assert hosts <= services | {"localhost", "127.0.0.1"}, (doc, hosts - services)
        assert re.search(r"\banibridge\b:", text) is None or "anibridge" in services


def test_the_gluetun_section_sends_sonarr_prowlarr_and_jellyfin_to_gluetun() -> None:
    readme = (REPO / "README.md").read_text()
    section = readme.split("**Behind a VPN (Gluetun)**", 1)[1].split("\n\n**", 1)[0]
    assert "http://gluetun:8000" in section
    for client in ("Sonarr", "Prowlarr", "Jellyfin"):
        assert client in section


def test_dockerfile_runs_the_stack_with_the_entrypoint_dropping_root() -> None:
    text = (REPO / "docker" / "Dockerfile").read_text()
    assert "ffmpeg" in text and "HEALTHCHECK" in text and "/health" in text
    assert "\nUSER " not in text  # the entrypoint switches to PUID:PGID itself
    assert 'ENTRYPOINT ["tini", "--", "/app/docker/entrypoint.sh"]' in text
    assert 'CMD ["python", "manage.py", "runstack"]' in text
    assert f'org.opencontainers.image.version="{VERSION}"' in text
    assert ENTRYPOINT.stat().st_mode & 0o111
    for name in COMPOSE_FILES:
        assert _compose(name)["services"]["anibridge"]["image"] == f"anibridge:{VERSION}"
