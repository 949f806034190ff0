#!/usr/bin/env python3
"""Where python3 finds pure-Python packages for an installation prefix: the
directory under the prefix that is on python3's own path (Debian:
/usr/lib/python3/dist-packages, /usr/local/lib/python3.11/dist-packages),
else the prefix's site-packages (then PYTHONPATH must name it)."""
import sys
import sysconfig

prefix = sys.argv[1].rstrip("/")
if prefix == "/usr":
    print("/usr/lib/python3/dist-packages")
    sys.exit(0)
for p in sys.path:
    if p.startswith(prefix + "/lib/python") and p.endswith(("dist-packages", "site-packages")):
        print(p)
        sys.exit(0)
print(sysconfig.get_path("purelib", "posix_prefix", vars={"base": prefix}))
