#!/usr/bin/env python3
"""mandrift.py - the options a manual page documents must be the options the
program's --help lists, so that neither drifts from the other
(tests/man.bats).

  mandrift.py cli PAGE VMSVC        vmsvc(1) against the vmsvc binary VMSVC
  mandrift.py program PAGE PROGRAM  vmsvcd(8) or vmsvc-agent(8) against PROGRAM
  mandrift.py keys PAGE SOURCE      a section 5 page against its parser's C source

An option is a word like --json, --format or -u in the text (the roff
source with its escapes undone; --format=json counts as --format). For a
program page, the options in SYNOPSIS and OPTIONS must equal those of
`PROGRAM --help`. For vmsvc(1): SYNOPSIS and OPTIONS against `vmsvc --help`
but its list of commands (the global options); then, for every command that `vmsvc --help` lists,
the options in the COMMANDS subsections titled "vmsvc COMMAND ..." against
those of `vmsvc COMMAND --help` and of `vmsvc COMMAND WORD --help` for each
`vmsvc COMMAND WORD` its help names (vm shutdown, vm freeze, ...). The
global options (and --help) are left out of the commands' sets: their help
texts mention them in passing. A subsection for a command that does not
exist is an error too.

For a file format page: the keys its FORMAT section documents (the tags of
its .TP items, "Key=" or "Key = ") must be the keys the C parser knows
(`[K_X] = { "Key", ...}` tables, `strcasecmp(name, "Key")`), and its
subsections "[Section]" the sections it knows (`strcasecmp(section, "X")`).

Prints each difference ("vmsvc stats: --help has --foo, the page has not")
and exits 1 when there is one; prints "ok: N option sets" and exits 0
otherwise.
"""
import os
import re
import subprocess
import sys
import tempfile

OPTION = re.compile(r"(?<![\w-])(--[a-z][a-z0-9-]*[a-z0-9]|-[A-Za-z])(?![\w-])")
GLOBAL = {"--config-dir", "--runtime-dir", "--help", "-h", "--version"}


def options(text):
    return set(OPTION.findall(text))


def roff_text(line):
    """A roff source line as plain text: escapes undone, macro name gone."""
    line = re.sub(r"^\.\s*[A-Za-z]{1,2}\b", "", line)
    line = re.sub(r"\\f(\[[^]]*\]|\(..|.)", "", line)
    line = line.replace("\\-", "-").replace("\\&", "").replace("\\(en", "-")
    line = re.sub(r"\\[(]..", " ", line)
    return line.replace('"', " ")


def sections(path):
    """{(SH title, SS title or ""): plain text} of a man(7) page."""
    out, sh, ss = {}, "", ""
    with open(path, encoding="utf-8") as f:
        for raw in f:
            raw = raw.rstrip("\n")
            if raw.startswith('.\\"'):
                continue
            m = re.match(r"^\.(SH|SS)\s+(.*)$", raw)
            if m:
                title = roff_text(m.group(2)).strip()
                if m.group(1) == "SH":
                    sh, ss = title, ""
                else:
                    ss = title
                out.setdefault((sh, ss), "")
                continue
            out[(sh, ss)] = out.get((sh, ss), "") + roff_text(raw) + "\n"
    return out


def help_text(argv, env):
    r = subprocess.run(argv + ["--help"], capture_output=True, text=True, env=env, check=False)
    if r.returncode != 0:
        sys.exit(f"{' '.join(argv)} --help: exit status {r.returncode}: {r.stderr.strip()}")
    return r.stdout


def compare(what, from_help, from_page, problems):
    for o in sorted(from_help - from_page):
        problems.append(f"{what}: --help has {o}, the page has not")
    for o in sorted(from_page - from_help):
        problems.append(f"{what}: the page has {o}, --help has not")


def page_options(secs, names):
    return set().union(*(options(t) for (sh, ss), t in secs.items() if sh in names))


def check_program(page, program, env, problems):
    secs = sections(page)
    compare(os.path.basename(program), options(help_text([program], env)),
            page_options(secs, ("SYNOPSIS", "OPTIONS")), problems)
    return 1


def command_options(vmsvc, cmd, env):
    text = help_text([vmsvc, cmd], env)
    found = options(text)
    for word in sorted(set(re.findall(rf"\bvmsvc {cmd} ([a-z][a-z-]*)", text))):
        found |= options(help_text([vmsvc, cmd, word], env))
    return found - GLOBAL


def check_cli(page, vmsvc, env, problems):
    secs = sections(page)
    top = help_text([vmsvc], env)
    usage, rest = top.split("Commands:", 1)
    listing, opts = rest.split("Options:", 1)
    # the commands' summaries mention their own options (listen's --echo)
    compare("vmsvc", options(usage + opts), page_options(secs, ("SYNOPSIS", "OPTIONS")),
            problems)
    commands = re.findall(r"^  ([a-z][a-z-]*)  ", listing, re.M)
    by_cmd = {}
    for (sh, ss), text in secs.items():
        if sh == "COMMANDS" and ss:
            m = re.match(r"vmsvc ([a-z][a-z-]*)", ss)
            if not m or m.group(1) not in commands:
                problems.append(f"the page's subsection '{ss}' names no vmsvc command")
                continue
            by_cmd[m.group(1)] = by_cmd.get(m.group(1), set()) | options(text)
    for cmd in commands:
        if cmd not in by_cmd:
            problems.append(f"vmsvc {cmd}: the page has no subsection 'vmsvc {cmd}' in COMMANDS")
            continue
        compare(f"vmsvc {cmd}", command_options(vmsvc, cmd, env), by_cmd[cmd] - GLOBAL,
                problems)
    return 1 + len(commands)


def page_keys(page):
    """The keys and [sections] the FORMAT section of a page documents."""
    keys, secs, sh, tag = set(), set(), "", False
    with open(page, encoding="utf-8") as f:
        for raw in f:
            m = re.match(r"^\.(SH|SS)\s+(.*)$", raw)
            if m and m.group(1) == "SH":
                sh = roff_text(m.group(2)).strip()
            elif m and sh == "FORMAT":
                secs.update(re.findall(r"\[(\w+)\]", roff_text(m.group(2))))
            elif sh == "FORMAT" and tag:
                k = re.match(r"^\s*([A-Z][A-Za-z]+)\s*=", roff_text(raw))
                if k:
                    keys.add(k.group(1))
            tag = raw.startswith((".TP", ".TQ"))
    return keys, secs


def check_keys(page, source, problems):
    with open(source, encoding="utf-8") as f:
        src = f.read()
    keys = set(re.findall(r'\[K_[A-Z_]+\] = \{ "(\w+)"', src))
    keys |= set(re.findall(r'strcasecmp\(name, "(\w+)"\)', src))
    secs = set(re.findall(r'strcasecmp\(section, "(\w+)"\)', src))
    pkeys, psecs = page_keys(page)
    what = os.path.basename(page)
    for k in sorted(keys - pkeys):
        problems.append(f"{what}: {os.path.basename(source)} knows {k}=, the page does not")
    for k in sorted(pkeys - keys):
        problems.append(f"{what}: the page has {k}=, {os.path.basename(source)} does not")
    for k in sorted(secs ^ psecs):
        problems.append(f"{what}: section [{k}] is in only one of the page and the source")
    if not keys:
        problems.append(f"{source}: no keys found")
    return len(keys)


def main():
    mode, page, program = sys.argv[1:4]
    problems = []
    with tempfile.TemporaryDirectory() as tmp:
        # --help never needs them; a private pair keeps a stray command harmless
        env = dict(os.environ, VMSVC_CONFIG_DIR=tmp + "/etc", VMSVC_RUNTIME_DIR=tmp + "/run")
        if mode == "cli":
            n = check_cli(page, program, env, problems)
        elif mode == "keys":
            n = check_keys(page, program, problems)
        else:
            n = check_program(page, program, env, problems)
    for p in problems:
        print(p)
    if problems:
        sys.exit(1)
    print(f"ok: {n} {'keys' if mode == 'keys' else 'option sets'}")


if __name__ == "__main__":
    main()
