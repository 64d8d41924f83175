"""A PEP 517 build backend for the spindle Python module, from the standard
library only (these machines reach no package index, and CPython 3.12+ ships
no setuptools): it configures the repository's CMake project with just the
module for the running interpreter, builds it, and packs
build/python/spindle into a wheel.

    pip install --no-build-isolation ./python

Environment: SPINDLE_BUILD_DIR (keep the CMake build there instead of a
temporary directory), SPINDLE_BUILD_JOBS (default 2).
"""
import base64
import hashlib
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import zipfile

NAME = "spindle"
VERSION = "0.1.0"
PYTHON_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPO = os.path.dirname(PYTHON_DIR)


def _tag():
    impl = "cp%d%d" % sys.version_info[:2]
    plat = sysconfig.get_platform().replace("-", "_").replace(".", "_")
    return "%s-%s-%s" % (impl, impl, plat)


def _metadata():
    return ("Metadata-Version: 2.1\nName: %s\nVersion: %s\n"
            "Summary: Python's threading primitives, queues and thread pool, "
            "implemented in C++ by spindle\nRequires-Python: >=3.11\nLicense: MIT\n"
            % (NAME, VERSION))


def _build(build_dir):
    jobs = os.environ.get("SPINDLE_BUILD_JOBS", "2")
    subprocess.run(["cmake", "-S", REPO, "-B", build_dir, "-G", "Ninja",
                    "-DCMAKE_BUILD_TYPE=Release", "-DSPINDLE_BUILD_TESTS=OFF",
                    "-DSPINDLE_BUILD_EXAMPLES=OFF", "-DSPINDLE_BUILD_BENCH=OFF",
                    "-DSPINDLE_INSTALL=OFF", "-DSPINDLE_BUILD_PYTHON=ON",
                    "-DSPINDLE_PYTHON_INTERPRETERS=" + sys.executable],
                   check=True, stdout=sys.stderr)
    subprocess.run(["cmake", "--build", build_dir, "--target", "spindle_python", "-j", jobs],
                   check=True, stdout=sys.stderr)
    return os.path.join(build_dir, "python", NAME)


def _record_line(arcname, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return "%s,sha256=%s,%d" % (arcname, digest, len(data))


def get_requires_for_build_wheel(config_settings=None):
    return []


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    dist_info = "%s-%s.dist-info" % (NAME, VERSION)
    os.makedirs(os.path.join(metadata_directory, dist_info), exist_ok=True)
    with open(os.path.join(metadata_directory, dist_info, "METADATA"), "w") as f:
        f.write(_metadata())
    return dist_info


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    keep = os.environ.get("SPINDLE_BUILD_DIR")
    build_dir = keep or tempfile.mkdtemp(prefix="spindle-wheel-")
    try:
        package = _build(build_dir)
        suffix = sysconfig.get_config_var("EXT_SUFFIX")
        files = sorted(n for n in os.listdir(package)
                       if n.endswith(".py") or n == "_spindle" + suffix)
        wheel_name = "%s-%s-%s.whl" % (NAME, VERSION, _tag())
        dist_info = "%s-%s.dist-info" % (NAME, VERSION)
        record = []
        with zipfile.ZipFile(os.path.join(wheel_directory, wheel_name), "w",
                             zipfile.ZIP_DEFLATED) as whl:
            def add(arcname, data):
                whl.writestr(arcname, data)
                record.append(_record_line(arcname, data))
            for name in files:
                with open(os.path.join(package, name), "rb") as f:
                    add("%s/%s" % (NAME, name), f.read())
            add(dist_info + "/METADATA", _metadata().encode())
            add(dist_info + "/WHEEL", ("Wheel-Version: 1.0\nGenerator: spindle_build\n"
                                       "Root-Is-Purelib: false\nTag: %s\n" % _tag()).encode())
            record.append(dist_info + "/RECORD,,")
            whl.writestr(dist_info + "/RECORD", "\n".join(record) + "\n")
        return wheel_name
    finally:
        if not keep:
            shutil.rmtree(build_dir, ignore_errors=True)
