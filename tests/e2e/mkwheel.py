"""Build a trivial pure-Python wheel by hand (no setuptools, no PyPI) into a
PEP 503 "simple" tree: OUT/simple/NAME/NAME-VERSION-py3-none-any.whl.
Usage: mkwheel.py NAME VERSION OUT.  The module NAME (dashes as
underscores) has greet(x) -> "hello X from NAME VERSION"."""
import base64
import hashlib
import os
import sys
import zipfile

name, version, out = sys.argv[1], sys.argv[2], sys.argv[3]
mod = name.replace("-", "_")
info = f"{mod}-{version}.dist-info"
files = {
    f"{mod}/__init__.py": f"VERSION = {version!r}\n\n"
    f"def greet(x):\n    return 'hello ' + x + ' from {name} ' + VERSION\n",
    f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
    f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: atlas-test\nRoot-Is-Purelib: true\n"
    "Tag: py3-none-any\n",
}
record = []
for path, text in files.items():
    digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=")
    record.append(f"{path},sha256={digest.decode()},{len(text.encode())}")
record.append(f"{info}/RECORD,,")
files[f"{info}/RECORD"] = "\n".join(record) + "\n"
d = os.path.join(out, "simple", name)
os.makedirs(d, exist_ok=True)
wheel = os.path.join(d, f"{mod}-{version}-py3-none-any.whl")
with zipfile.ZipFile(wheel, "w") as z:
    for path, text in files.items():
        z.writestr(zipfile.ZipInfo(path, (1980, 1, 1, 0, 0, 0)), text)
print(wheel)
