"""image/provision.sh turns a clean Debian bookworm (debootstrap) into a jukebox: checked from the inside.

The chroot gets the same provisioning the image build and the one-command install run, with the app
as a wheel built from this checkout and its dependencies as wheels built on the host (so the chroot
needs no compiler; apt packages come from the Debian mirror the host's apt uses). Then: the user and
its groups exist, the app prints its version and reads its config as that user, every unit is installed
and the installable ones are enabled, systemd-analyze verifies the installed jukebox unit against the
provisioned tree itself, the boot files are edited as promised, and a second run changes nothing it
should keep. Not checked (no Pi here): that it boots, draws, or plays.

The debootstrapped base is cached as a tarball (KIOSK_TEST_CACHE, default /var/cache/kiosk-tests), and so
are the dependency wheels, keyed by the pinned versions; a warm run takes a few minutes.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from kiosk import __version__
from tests.conftest import skip_or_fail

REPO = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("KIOSK_TEST_CACHE", "/var/cache/kiosk-tests"))
SUITE = "bookworm"
BASE_TARBALL = CACHE / f"debian-{SUITE}-minbase.tar.gz"
HOST_CA_NAME = "host-ca-certificates.crt"
KIOSK_GROUPS = {"audio", "video", "render", "input", "gpio"}
PI_CMDLINE = "console=serial0,115200 console=tty1 root=PARTUUID=abcd-02 rootfstype=ext4 fsck.repair=yes rootwait\n"
PI_CONFIG = "# Raspberry Pi OS config.txt\ndtparam=audio=on\ncamera_auto_detect=1\ndtoverlay=vc4-kms-v3d\n[all]\n"

pytestmark = [pytest.mark.slow, pytest.mark.needs_root, pytest.mark.timeout(900)]


def run(cmd: list[str], timeout: float = 600, **kwargs: object) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kwargs)  # type: ignore[call-overload]
    if result.returncode != 0:
        raise AssertionError(f"{cmd} exited {result.returncode}:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}")
    return result


def debian_mirror() -> str:
    """The Debian archive this host's apt already uses (KIOSK_DEBIAN_MIRROR overrides)."""
    if mirror := os.environ.get("KIOSK_DEBIAN_MIRROR"):
        return mirror
    sources = sorted(Path("/etc/apt/sources.list.d").glob("*.sources"))
    for source in sources:
        for uri in re.findall(r"^URIs:\s*(\S+)", source.read_text(), re.M):
            if "security" not in uri:
                return uri
    legacy = Path("/etc/apt/sources.list")
    if legacy.exists():
        for match in re.finditer(r"^deb\s+(?:\[[^]]*\]\s+)?(\S+)\s+\S+", legacy.read_text(), re.M):
            if "security" not in match.group(1):
                return match.group(1)
    skip_or_fail("no Debian mirror in this host's apt sources (set KIOSK_DEBIAN_MIRROR)")
    raise AssertionError("unreachable")


def base_tarball() -> Path:
    """The minimal bookworm tree, debootstrapped once and cached as a tarball."""
    if BASE_TARBALL.exists():
        return BASE_TARBALL
    CACHE.mkdir(parents=True, exist_ok=True)
    staging = CACHE / f"staging-{os.getpid()}"
    try:
        run(["debootstrap", "--variant=minbase", SUITE, str(staging), debian_mirror()], timeout=900)
        run(["chroot", str(staging), "apt-get", "clean"])
        partial = BASE_TARBALL.with_suffix(".partial")
        run(["tar", "-C", str(staging), "--numeric-owner", "-czf", str(partial), "."], timeout=300)
        partial.rename(BASE_TARBALL)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return BASE_TARBALL


def dependency_wheels() -> Path:
    """Wheels for every pinned dependency (pyalsaaudio compiled here), cached by the pins and the Python."""
    constraints = REPO / "image" / "constraints.txt"
    key = hashlib.sha256(
        constraints.read_bytes() + (REPO / "pyproject.toml").read_bytes() + sys.version.encode()
    ).hexdigest()[:16]
    wheelhouse = CACHE / f"wheelhouse-{key}"
    if wheelhouse.exists():
        return wheelhouse
    partial = CACHE / f"wheelhouse-{key}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    dependencies = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    run([sys.executable, "-m", "pip", "wheel", "--quiet", "--wheel-dir", str(partial), "--constraint", str(constraints),
         *dependencies, "setuptools", "wheel"], timeout=900)
    partial.rename(wheelhouse)
    return wheelhouse


def app_wheel(out: Path) -> Path:
    run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(out),
         str(REPO)], timeout=300)
    (wheel,) = out.glob("kiosk-*.whl")
    return wheel


class Chroot:
    """A Debian tree with /proc, /sys, /dev and /dev/pts mounted; every mount is undone on exit, even on failure."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.mounts: list[Path] = []

    def mount(self, *args: str, target: str) -> None:
        path = self.root / target
        path.mkdir(parents=True, exist_ok=True)
        run(["mount", *args, str(path)])
        self.mounts.append(path)

    def __enter__(self) -> Chroot:
        try:
            self.mount("-t", "proc", "proc", target="proc")
            self.mount("-t", "sysfs", "-o", "ro", "sysfs", target="sys")
            self.mount("--bind", "/dev", target="dev")
            self.mount("-t", "devpts", "-o", "newinstance,ptmxmode=0666", "devpts", target="dev/pts")
        except BaseException:
            self.unmount_all()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.unmount_all()

    def unmount_all(self) -> None:
        for path in reversed(self.mounts):
            if subprocess.run(["umount", str(path)], capture_output=True).returncode != 0:
                subprocess.run(["umount", "--lazy", str(path)], capture_output=True)
        self.mounts.clear()

    def __call__(self, *cmd: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8",
               "HOME": "/root", "DEBIAN_FRONTEND": "noninteractive"}
        if (self.root / "etc" / "ssl" / HOST_CA_NAME).is_file():
            env["PIP_CERT"] = f"/etc/ssl/{HOST_CA_NAME}"
        return run(["chroot", str(self.root), *cmd], timeout=timeout, env=env)


@contextlib.contextmanager
def fresh_chroot(tmp_path_factory: pytest.TempPathFactory, name: str) -> Iterator[Chroot]:
    """A new bookworm tree with this checkout in /opt/src/jukebox and Pi-like boot files, mounted."""
    if os.geteuid() != 0:
        skip_or_fail("needs root for debootstrap, chroot and mounts")
    for tool in ("debootstrap", "chroot", "tar", "mount"):
        if shutil.which(tool) is None:
            skip_or_fail(f"{tool} is missing (apt-get install debootstrap)")
    root = tmp_path_factory.mktemp(name) / "root"
    root.mkdir()
    try:
        run(["tar", "-C", str(root), "--numeric-owner", "-xzpf", str(base_tarball())], timeout=300)
        shutil.copytree(
            REPO, root / "opt" / "src" / "jukebox",
            ignore=shutil.ignore_patterns(".git", "__pycache__", ".*_cache", "*.egg-info", "build", "dist"),
        )
        shutil.copy2("/etc/resolv.conf", root / "etc" / "resolv.conf")
        # The host's trusted certificates too: where the network re-signs TLS, pip inside must trust the same.
        host_ca = Path(os.environ.get("PIP_CERT") or "/etc/ssl/certs/ca-certificates.crt")
        if host_ca.is_file():
            (root / "etc" / "ssl").mkdir(exist_ok=True)
            shutil.copy2(host_ca, root / "etc" / "ssl" / HOST_CA_NAME)
        # As in any chroot: packages must not try to start services.
        policy = root / "usr" / "sbin" / "policy-rc.d"
        policy.write_text("#!/bin/sh\nexit 101\n")
        policy.chmod(0o755)
        boot = root / "boot" / "firmware"
        boot.mkdir(parents=True, exist_ok=True)
        (boot / "cmdline.txt").write_text(PI_CMDLINE)
        (boot / "config.txt").write_text(PI_CONFIG)
        with Chroot(root) as chroot:
            yield chroot
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def provisioned(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Chroot, str, str]]:
    """The image's way: the app wheel and its dependencies from a wheelhouse, data partition, read-only root."""
    if sys.version_info[:2] != (3, 11):
        skip_or_fail("the host wheels must match Debian bookworm's Python 3.11")
    with fresh_chroot(tmp_path_factory, "provision") as chroot:
        wheels = chroot.root / "tmp" / "wheels"
        shutil.copytree(dependency_wheels(), wheels)
        wheel = app_wheel(wheels)
        args = ("/opt/src/jukebox/image/provision.sh", "--app", f"/tmp/wheels/{wheel.name}",
                "--wheelhouse", "/tmp/wheels", "--data-label", "KIOSKDATA", "--read-only-root",
                "--alsa-card", "sndrpihifiberry")
        first = chroot(*args).stdout
        # The owner edits the config; a second run (an update) must keep it and not duplicate edits.
        config = chroot.root / "etc" / "kiosk" / "config.toml"
        config.write_text(config.read_text() + "\n# owner's change\n")
        second = chroot(*args, "--no-apt-update").stdout
        yield chroot, first, second


def test_kiosk_user_has_exactly_its_groups(provisioned: tuple[Chroot, str, str]) -> None:
    chroot, _, _ = provisioned
    entry = chroot("getent", "passwd", "kiosk").stdout.strip().split(":")
    assert entry[5] == "/var/lib/kiosk" and entry[6] == "/usr/sbin/nologin"
    groups = set(chroot("id", "-nG", "kiosk").stdout.split())
    assert groups == KIOSK_GROUPS | {"kiosk"}
    assert int(entry[2]) < 1000  # a system user


def test_app_prints_its_version_and_reads_its_config_as_kiosk(provisioned: tuple[Chroot, str, str]) -> None:
    chroot, first, _ = provisioned
    version = chroot("/opt/kiosk/venv/bin/kiosk", "--version").stdout.strip()
    assert version == f"kiosk {__version__}"
    assert f"provision: done: kiosk {__version__}" in first
    # As the service user, with the service's data folder: config loads and a subcommand runs.
    out = chroot("runuser", "-u", "kiosk", "--", "env", "KIOSK_DATA_DIR=/var/lib/kiosk",
                 "/opt/kiosk/venv/bin/kiosk", "events", "schema").stdout
    assert '"library:updated"' in out or "library:updated" in out


def test_units_installed_and_enabled(provisioned: tuple[Chroot, str, str]) -> None:
    chroot, _, _ = provisioned
    for unit in sorted((REPO / "systemd").glob("*")):
        if unit.suffix == ".rules":
            assert (chroot.root / "etc/udev/rules.d" / unit.name).read_bytes() == unit.read_bytes()
            continue
        if unit.suffix not in (".service", ".socket", ".mount", ".automount", ".timer", ".path", ".target"):
            continue
        assert (chroot.root / "etc/systemd/system" / unit.name).read_bytes() == unit.read_bytes()
        if "@." in unit.name or "[Install]" not in unit.read_text():
            continue
        state = subprocess.run(["chroot", str(chroot.root), "systemctl", "is-enabled", unit.name],
                               capture_output=True, text=True).stdout.strip()
        assert state == "enabled", unit.name
    link = chroot.root / "etc/systemd/system/multi-user.target.wants/kiosk.service"
    assert os.readlink(link) == "/etc/systemd/system/kiosk.service"


def test_installed_unit_verifies_in_the_provisioned_tree(provisioned: tuple[Chroot, str, str]) -> None:
    """Here the user, the groups and /opt/kiosk/venv/bin/kiosk are real, not stand-ins."""
    chroot, _, _ = provisioned
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        skip_or_fail("systemd-analyze is missing (apt-get install systemd)")
    assert analyze is not None
    for unit in ("kiosk.service", "kiosk-console.service", "kiosk-grow-data.service"):
        result = subprocess.run([analyze, "verify", f"--root={chroot.root}", "--man=no", "--generators=no",
                                 "--recursive-errors=no", unit], capture_output=True, text=True, timeout=60)
        assert result.returncode == 0 and not (result.stdout + result.stderr).strip(), result.stderr


def test_console_locked_down(provisioned: tuple[Chroot, str, str]) -> None:
    chroot, _, _ = provisioned
    state = subprocess.run(["chroot", str(chroot.root), "systemctl", "is-enabled", "getty@tty1.service"],
                           capture_output=True, text=True).stdout.strip()
    assert state == "disabled"
    assert os.readlink(chroot.root / "etc/systemd/system/ctrl-alt-del.target") == "/dev/null"
    assert "NAutoVTs=0" in (chroot.root / "etc/systemd/logind.conf.d/kiosk-lockdown.conf").read_text()
    assert "kernel.sysrq = 0" in (chroot.root / "etc/sysctl.d/90-kiosk-lockdown.conf").read_text()
    chroot("loadkeys", "--parse", "/etc/kiosk/no-vt-switch.map")  # the keymap the console unit loads parses


def test_units_cut_from_the_boot_are_masked(provisioned: tuple[Chroot, str, str]) -> None:
    """Of image/BOOT-BUDGET.md's cut list, Debian's minimal system has the apt and e2scrub timers."""
    chroot, first, _ = provisioned
    for unit in ("apt-daily.timer", "apt-daily-upgrade.timer", "e2scrub_all.timer"):
        assert os.readlink(chroot.root / "etc/systemd/system" / unit) == "/dev/null", unit
    assert "cutting from the boot:" in first


def test_boot_files_edited_once(provisioned: tuple[Chroot, str, str]) -> None:
    chroot, _, _ = provisioned
    cmdline = (chroot.root / "boot/firmware/cmdline.txt").read_text()
    assert cmdline.count("\n") <= 1, "cmdline.txt must stay one line"
    words = cmdline.split()
    assert "root=PARTUUID=abcd-02" in words and "rootwait" in words  # the Pi's own arguments survive
    assert "console=serial0,115200" not in words and "console=tty1" not in words
    for word in ("console=tty3", "consoleblank=0", "quiet", "vt.global_cursor_default=0", "fsck.repair=yes"):
        assert words.count(word) == 1, word
    config = (chroot.root / "boot/firmware/config.txt").read_text()
    assert config.count("# kiosk begin") == 1 and "disable_splash=1" in config
    assert config.startswith(PI_CONFIG)


def test_data_partition_read_only_root_and_config(provisioned: tuple[Chroot, str, str]) -> None:
    chroot, _, _ = provisioned
    fstab = [line for line in (chroot.root / "etc/fstab").read_text().splitlines() if "kiosk-data" in line]
    assert len(fstab) == 1 and fstab[0].split()[:3] == ["LABEL=KIOSKDATA", "/var/lib/kiosk", "ext4"]
    assert (chroot.root / "etc/overlayroot.local.conf").read_text().strip() == 'overlayroot="tmpfs:recurse=0"'
    chroot("dpkg", "-s", "overlayroot")
    assert "ALSA_CARD=sndrpihifiberry" in (chroot.root / "etc/kiosk/environment").read_text()
    config = (chroot.root / "etc/kiosk/config.toml").read_text()
    assert config.endswith("# owner's change\n")  # the second run kept the owner's edit
    tomllib.loads(config)
    data = chroot.root / "var/lib/kiosk"
    assert data.stat().st_mode & 0o777 == 0o750
    assert chroot("stat", "-c", "%U", "/var/lib/kiosk").stdout.strip() == "kiosk"


def test_no_compiler_left_behind(provisioned: tuple[Chroot, str, str]) -> None:
    """With a wheelhouse the appliance never gets gcc; the image stays lean."""
    chroot, _, _ = provisioned
    assert not (chroot.root / "usr/bin/gcc").exists()


def test_one_command_install_from_the_checkout_compiles_and_cleans_up(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """The install-on-an-existing-Pi way: `sudo image/provision.sh` from a checkout, pip from PyPI, pyalsaaudio
    compiled. Afterwards the compiler packages it added are gone, the owner's own gcc (there before) stays,
    and the compiled module still loads."""
    with fresh_chroot(tmp_path_factory, "one-command") as chroot:
        chroot("apt-get", "update", "-qq")
        chroot("apt-get", "install", "-y", "-qq", "--no-install-recommends", "gcc")  # the owner's compiler
        out = chroot("/opt/src/jukebox/image/provision.sh", "--no-apt-update", timeout=900).stdout
        assert "removing what the compiler step added:" in out
        assert chroot("/opt/kiosk/venv/bin/kiosk", "--version").stdout.strip() == f"kiosk {__version__}"
        chroot("/opt/kiosk/venv/bin/python", "-c", "import alsaaudio")
        installed = set(chroot("dpkg-query", "-W", "-f", "${db:Status-Abbrev} ${Package}\\n").stdout.splitlines())
        assert "ii  gcc" in installed
        assert "ii  python3-dev" not in installed and "ii  libasound2-dev" not in installed
        assert "ii  libasound2" in installed  # the run-time library the module links to stays
