#!/usr/bin/python3
"""test_install_paths.py SRCDIR BUILDDIR - what README.md says `meson install`
installs is what this build installs (meson-info/intro-installed.json), the
config examples name the plugin where a --prefix=/usr install puts it, and
vap-plugin.pc's plugindir is the plugin's directory."""
import json
import os
import re
import sys

src, build = sys.argv[1], sys.argv[2]
readme = open(os.path.join(src, "README.md"), encoding="utf-8").read()
installed = set(json.load(open(os.path.join(build, "meson-info", "intro-installed.json"))).values())
options = json.load(open(os.path.join(build, "meson-info", "intro-buildoptions.json")))
prefix = next(o["value"] for o in options if o["name"] == "prefix")
fail = []

table = re.findall(r"^\| `PREFIX(/[^`]+)` \|", readme, re.M)
documented = {prefix + p for p in table}
for p in sorted(installed - documented):
    fail.append("installed but not in README's table: " + p)
for p in sorted(documented - installed):
    fail.append("in README's table but not installed: " + p)

plugin = [p for p in table if p.endswith("/vap_openemr.so")]
if len(plugin) != 1:
    fail.append("README's table does not name the plugin once")
else:
    debian = "/usr" + plugin[0]
    for doc in ("README.md", "examples/plugins.conf", "doc/vap-plugins.conf.5"):
        text = open(os.path.join(src, doc), encoding="utf-8").read().replace("\\-", "-")
        for path in re.findall(r"(/usr\S*/vap_openemr\.so)", text):
            if path not in (debian, prefix + plugin[0], "/usr/local" + plugin[0]):
                fail.append("%s names the plugin as %s; --prefix=/usr installs %s" % (doc, path, debian))
    pc = open(os.path.join(build, "meson-private", "vap-plugin.pc")).read()
    var = dict(re.findall(r"^(\w+)=(.*)$", pc, re.M))
    expand = lambda v: re.sub(r"\$\{(\w+)\}", lambda m: expand(var[m.group(1)]), v)
    if "plugindir" not in var:
        fail.append("vap-plugin.pc has no plugindir variable")
    elif expand(var["plugindir"]) != os.path.dirname(prefix + plugin[0]):
        fail.append("vap-plugin.pc plugindir is %s, the plugin goes to %s"
                    % (expand(var["plugindir"]), os.path.dirname(prefix + plugin[0])))

for f in fail:
    print("FAIL install paths: " + f)
sys.exit(1 if fail else 0)
