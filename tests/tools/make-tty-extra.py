#!/usr/bin/env python3
"""make-tty-extra.py [--no-golden] [NAME...]

Writes the hand-made terminal streams of tests/fixtures/tty-extra/ (NAME.raw),
their index.json, and the reference screens NAME.at-OFFSET.txt that tmux (the
reference terminal) shows after OFFSET bytes, with the window resized at the
given offsets (tests/tools/tty-golden-resize; /work/shared/tools/tty-golden
when a stream has no resize).

Each stream is a list of byte strings; MARK records a golden offset (the end
of the stream always is one) and RESIZE(cols, rows) a window resize at that
point. KNOWN maps a golden mark to the reason vt_screen differs from tmux
there (an escape sequence libtsm 4.0.2 gets wrong, or a vt/ defect); the
test checks that those screens still differ, so a fix is noticed.
Every stream stays below 4 KB. Needs tmux (3.3a) for the goldens.
"""
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.normpath(os.path.join(HERE, "..", "fixtures", "tty-extra"))
TTY_GOLDEN = "/work/shared/tools/tty-golden"
TTY_GOLDEN_RESIZE = os.path.join(HERE, "tty-golden-resize")

ESC = b"\x1b"
CSI = b"\x1b["


class Mark:
    def __init__(self, known=None):
        self.known = known  # reason the screen differs from tmux here


class Resize:
    def __init__(self, cols, rows):
        self.cols, self.rows = cols, rows


def MARK(known=None):
    return Mark(known)


def RESIZE(cols, rows):
    return Resize(cols, rows)


# A sequence that changes nothing visible: separates a golden offset from a
# resize that follows it (the two may not share an offset).
NOP = CSI + b"m"


def lines(fmt, n, start=0):
    return b"".join((fmt % i).encode() for i in range(start, start + n))


STREAMS = {}

# CSI s / CSI u (SCOSC / SCORC), which libtsm 4.0.2 ignores; the pre-filter
# maps them to ESC 7 / ESC 8. Mixed with DECSC/DECRC and kitty / private
# forms ending in 'u' that must not restore the cursor.
STREAMS["scosc-scorc"] = dict(cols=40, rows=8, data=[
    b"Hello", CSI + b"s", b" world", CSI + b"u", b"XX\r\n",
    CSI + b"5;10H", CSI + b"s", b"foo", CSI + b"1;30H", b"bar", CSI + b"u", b"baz",
    MARK(),
    CSI + b"3;3H", ESC + b"7", b"decsc", CSI + b"8;1H", ESC + b"8", b"DECRC",
    CSI + b"7;1H", b"kitty:", CSI + b"s", CSI + b"?u", CSI + b">1u", CSI + b"<u",
    b"still here", CSI + b"u", b"!",
    MARK(),
])

# REP (CSI Ps b), which libtsm 4.0.2 ignores; the pre-filter expands it.
# tmux 3.3a repeats ASCII only and stops at the right margin.
STREAMS["rep"] = dict(cols=40, rows=6, data=[
    b"a", CSI + b"5b", b"|\r\n",
    b"x-", CSI + b"10b", b"|", CSI + b"0b", b"\r\n",
    CSI + b"31m", b"=", CSI + b"7b", CSI + b"m", b"#", CSI + b"3b", b"\r\n",
    b"margin:", CSI + b"30b",
    MARK(),
    b"\r\n\xc3\xa9", CSI + b"3b", b".\xe2\x94\x80", CSI + b"4b", b".",
    MARK(known="REP (CSI Ps b) after a non-ASCII char: tmux 3.3a repeats "
               "only ASCII characters, the pre-filter repeats any (as xterm)"),
    b"\r\ny", CSI + b"2b", CSI + b"2b",
    MARK(known="REP right after another REP: tmux 3.3a forgets the last "
               "character after any escape sequence, the pre-filter keeps "
               "it until the next printed character"),
])

# DECRQM inside the alternate screen: libtsm 4.0.2 soft-resets on it and
# leaves the alternate screen; the pre-filter swallows and answers it.
STREAMS["decrqm-alt"] = dict(cols=40, rows=8, data=[
    b"main screen line 1\r\nmain screen line 2\r\n",
    CSI + b"?1049h", CSI + b"H", CSI + b"2J", CSI + b"?25l",
    b"ALT top\r\n",
    CSI + b"?2026$p", CSI + b"?2004$p", CSI + b"?1049$p", CSI + b"2$p", CSI + b"?25$p",
    b"drawn after DECRQM\r\n",
    CSI + b"5;3H", b"+--+", CSI + b"6;3H", b"|  |", CSI + b"7;3H", b"+--+",
    MARK(),
    CSI + b"?2026h", CSI + b"1;1H", CSI + b"2K", b"ALT redrawn in sync", CSI + b"?2026l",
    CSI + b"?2026$p",
    MARK(),
    CSI + b"?1049l", CSI + b"?25h", b"back on main",
    MARK(),
])

# CSI 3 J after scrolling (libtsm ignores it; the screen layer clears its
# history). Only the screen is compared here.
STREAMS["erase-scrollback"] = dict(cols=30, rows=6, data=[
    lines("scrolled line %d\r\n", 12),
    MARK(),
    CSI + b"3J", b"after 3J\r\n",
    MARK(),
    CSI + b"H", CSI + b"2J", CSI + b"3J", b"cleared\r\n", lines("again %d\r\n", 7),
    MARK(),
])

# Scroll regions (DECSTBM) with scrolling by LF, RI, SU and SD.
STREAMS["scroll-region"] = dict(cols=30, rows=10, data=[
    b"header\r\n", lines("row %d\r\n", 8, 1), b"footer",
    CSI + b"3;7r", CSI + b"7;1H",
    lines("\r\nregion %d", 3),
    MARK(),
    CSI + b"3;1H", ESC + b"M", b"RI top", ESC + b"M", b"RI again",
    CSI + b"2S", CSI + b"1T",
    MARK(),
    CSI + b"r", CSI + b"10;1H", b"\r\nafter reset\r\n",
    CSI + b"1;4r", CSI + b"4;1H", b"\n\nin top region",
    CSI + b"r",
    MARK(),
])

# Insert / delete lines (IL, DL), inside and outside a scroll region.
STREAMS["insert-delete-lines"] = dict(cols=30, rows=10, data=[
    lines("line %d\r\n", 9), b"line 9",
    CSI + b"3;1H", CSI + b"2L", b"inserted A", CSI + b"5;1H", CSI + b"M",
    MARK(),
    CSI + b"2;8r", CSI + b"6;1H", CSI + b"3L", b"in region",
    CSI + b"2;1H", CSI + b"2M",
    CSI + b"9;1H", CSI + b"L", b"outside region",
    CSI + b"r", CSI + b"1;1H", CSI + b"99M", b"all gone",
    MARK(),
])

# Insert / delete / erase characters (ICH, DCH, ECH), also near wide chars.
# (tmux 3.3a leaves the cells alone when ICH inserts as many cells as are
# left to the margin, so the counts here stay below that.)
STREAMS["ich-dch"] = dict(cols=30, rows=6, data=[
    b"0123456789abcdefghij", CSI + b"1;5H", CSI + b"3@", b"INS",
    CSI + b"2;1H", b"0123456789abcdefghij", CSI + b"2;3H", CSI + b"4P",
    CSI + b"3;1H", b"0123456789abcdefghij", CSI + b"3;3H", CSI + b"5X",
    CSI + b"4;1H", b"abcdefghijklmnopqrstuvwxyz0123", CSI + b"4;25H", CSI + b"3@",
    CSI + b"5;1H", b"tail", CSI + b"5;2H", CSI + b"99P",
    MARK(),
    CSI + b"6;1H", b"a\xe4\xb8\xadb\xe6\x96\x87c", CSI + b"6;5H", CSI + b"2P",
    MARK(),
])

# Wide chars: CJK and emoji, scrolled, at the last column, half overwritten.
STREAMS["wide-chars"] = dict(cols=20, rows=6, data=[
    b"\xe4\xb8\xad\xe6\x96\x87 text \xf0\x9f\x98\x80!\r\n",
    b"ab\xe4\xb8\xad\xe6\x96\x87cd\xef\xbc\xa1\r\n",
    CSI + b"3;5H", b"\xe5\xad\x97",
    MARK(),
    b"\r\n0123456789012345678\xe4\xb8\xadZ",
    MARK(known="wide char printed at the last column: libtsm 4.0.2 stores it "
               "there (overflowing) instead of wrapping it to the next row"),
    CSI + b"H", CSI + b"2J", b"ab\xe4\xb8\xadcd", CSI + b"1;3H", b"Z",
    MARK(),
    b"\r\nab\xe4\xb8\xadcd", CSI + b"2;4H", b"Y",
    MARK(),
])

# Combining marks: libtsm 4.0.2 drops them.
STREAMS["combining"] = dict(cols=20, rows=4, data=[
    b"plain ascii\r\n",
    MARK(),
    b"e\xcc\x81x a\xcc\x88 n\xcc\x83\r\n",
    MARK(known="combining marks (U+0301, U+0308, U+0303): libtsm 4.0.2 drops "
               "zero-width code points, so the pre-filter composes base + "
               "mark into the precomposed character (NFC); tmux keeps base + "
               "mark decomposed, so the bytes differ while the text reads "
               "the same"),
])

# Tabs: HT, CBT (CSI Z), HTS (ESC H), TBC (CSI g, CSI 3 g). (tmux 3.3a
# has no CHT, CSI I.)
STREAMS["tabs"] = dict(cols=40, rows=8, data=[
    b"\tA\tB\tC\r\n",
    b"1234567\tx\t\ty\r\n",
    b"\t\tcbt", CSI + b"Z", b"<\r\n",
    b"   ", ESC + b"H", b"      ", ESC + b"H", b"\r\t|\t|\r\n",
    CSI + b"g", b"\r\t.\t.\r\n",
    CSI + b"3g", b"\t!\r\n",
    MARK(),
    b"end:", CSI + b"40G", b"\t\tZ",
    MARK(),
])

# Origin mode (DECOM) with a scroll region.
STREAMS["origin-mode"] = dict(cols=30, rows=10, data=[
    lines("background %d\r\n", 9),
    CSI + b"3;6r", CSI + b"?6h",
    CSI + b"1;1H", b"origin 1,1", CSI + b"20;1H", b"clamped bottom",
    CSI + b"2;5H", b"(2,5)",
    MARK(),
    CSI + b"?6l", CSI + b"1;1H", b"absolute 1,1", CSI + b"r",
    CSI + b"10;1H", b"last row",
    MARK(),
])

# Long lines autowrapping (also at the bottom), DECAWM off and on again.
STREAMS["autowrap"] = dict(cols=20, rows=6, data=[
    b"x" * 45, b"\r\n",
    b"exactly twenty chars", b"next",
    MARK(),
    CSI + b"?7l", b"\r\n", b"no wrap: " + b"y" * 30, b"END",
    CSI + b"?7h", b"\r\n", lines("%02d-wrapped-line-text", 5),
    MARK(),
])

# 256-colour and truecolour SGR (only the text is compared: the sequences
# must not leak characters); colours are checked in test_screen.c.
STREAMS["sgr-colours"] = dict(cols=40, rows=6, data=[
    CSI + b"38;5;196mred256", CSI + b"48;5;21m blue-bg", CSI + b"0m\r\n",
    CSI + b"38;2;255;128;0mtrue", CSI + b"48;2;0;64;128m colour", CSI + b"m\r\n",
    CSI + b"1;3;4;7mstyled", CSI + b"22;23;24;27m plain\r\n",
    CSI + b"38:2::10:20:30mcolon", CSI + b"48:5:100m form", CSI + b"m\r\n",
    CSI + b"38;5;300;1mbad index", CSI + b"m",
    MARK(),
])

# Resizes of an alternate-screen program that repaints for the new size
# (as vim or Claude Code do on SIGWINCH).
def _alt_paint(cols, rows):
    out = [CSI + b"H", CSI + b"2J"]
    out.append(b"+" + b"-" * (cols - 2) + b"+")
    for r in range(2, rows):
        out.append(CSI + b"%d;1H|" % r + CSI + b"%d;%dH|" % (r, cols))
    out.append(CSI + b"%d;1H+" % rows + b"-" * (cols - 2) + b"+")
    out.append(CSI + b"2;3H" + b"size %dx%d" % (cols, rows))
    return b"".join(out)


STREAMS["resize-alt"] = dict(cols=40, rows=10, data=[
    b"$ vim\r\n", CSI + b"?1049h", _alt_paint(40, 10),
    MARK(),
    NOP, RESIZE(30, 6), CSI + b"?25l",
    MARK(known="height shrunk: libtsm 4.0.2 always scrolls the top rows off "
               "(Aetf/libtsm #59), tmux keeps the rows above the cursor"),
    _alt_paint(30, 6),
    MARK(),
    NOP, RESIZE(50, 12), CSI + b"?25h",
    MARK(),
    _alt_paint(50, 12),
    MARK(),
    CSI + b"?1049l",
    MARK(known="?1049l after the alternate screen grew from 10 to 12 rows: "
               "tmux 3.3a shows the main screen 2 rows down under 2 stale "
               "alternate-screen rows (a tmux defect); vt_screen shows the "
               "main screen at the top, as xterm does"),
])

# Resizes of the main screen under a shell-like program that does not
# repaint: shrinking the height with the cursor on the bottom row (the top
# rows go to the history in both), then widening (no wrapped lines).
STREAMS["resize-main"] = dict(cols=30, rows=8, data=[
    lines("$ output line %d\r\n", 10), b"$ ",
    MARK(),
    NOP, RESIZE(30, 5),
    b"typed after shrink",
    MARK(),
    NOP, RESIZE(40, 5),
    b"\r\n$ wider now",
    MARK(),
])

# Growing the height after lines scrolled into the history.
STREAMS["resize-grow"] = dict(cols=30, rows=4, data=[
    lines("$ output line %d\r\n", 6), b"$ ",
    MARK(),
    NOP, RESIZE(30, 7),
    b"typed after grow",
    MARK(known="height grown: tmux pulls lines back from its history, "
               "libtsm 4.0.2 adds blank rows at the bottom"),
])

# Changing the width with a wrapped line on the screen.
STREAMS["resize-reflow"] = dict(cols=30, rows=6, data=[
    b"short\r\n", b"0123456789" * 4 + b"abcde", b"\r\n$ ",
    MARK(),
    NOP, RESIZE(20, 6),
    b"narrow",
    MARK(known="width shrunk with a wrapped line: tmux 3.3a reflows it, "
               "libtsm 4.0.2 truncates every row (no reflow)"),
    NOP, RESIZE(50, 6),
    b" wide",
    MARK(known="width grown with a wrapped line: tmux 3.3a joins it back, "
               "libtsm 4.0.2 keeps the rows as they are (no reflow)"),
])

# Shrinking with blank rows below the cursor: tmux drops the blank rows,
# libtsm 4.0.2 scrolls the top rows off (Aetf/libtsm #59).
STREAMS["resize-shrink-blank"] = dict(cols=30, rows=10, data=[
    b"first\r\nsecond\r\nthird",
    MARK(),
    NOP, RESIZE(30, 4),
    b"!",
    MARK(known="height shrunk with blank rows below the cursor: libtsm "
               "4.0.2 always scrolls the top rows off (Aetf/libtsm #59)"),
])


def build(name, spec):
    raw = b""
    offsets, resizes, known = [], [], {}
    for piece in spec["data"]:
        if isinstance(piece, Mark):
            if len(raw) not in offsets:
                offsets.append(len(raw))
            if piece.known:
                known[str(len(raw))] = piece.known
        elif isinstance(piece, Resize):
            resizes.append([len(raw), piece.cols, piece.rows])
        else:
            raw += piece
    if not offsets or offsets[-1] != len(raw):
        offsets.append(len(raw))
    for at, _, _ in resizes:  # keep "the screen before the resize" unambiguous
        assert at not in offsets, f"{name}: a golden offset equals resize offset {at}"
    assert len(raw) < 4096, f"{name}: {len(raw)} bytes"
    entry = {"cols": spec["cols"], "rows": spec["rows"], "golden_offsets": offsets}
    if resizes:
        entry["resizes"] = resizes
    if known:
        entry["known_differences"] = known
    return raw, entry


def golden(name, raw_path, entry, off):
    out = os.path.join(OUT, f"{name}.at-{off}.txt")
    steps = [f"{at}:{c}x{r}" for at, c, r in entry.get("resizes", []) if at <= off]
    if steps:
        cmd = [TTY_GOLDEN_RESIZE, raw_path, str(entry["cols"]), str(entry["rows"]),
               str(off), *steps, "-o", out]
    else:
        cmd = [TTY_GOLDEN, raw_path, str(entry["cols"]), str(entry["rows"]), str(off), out]
    subprocess.run(cmd, check=True, stdin=subprocess.DEVNULL)


def main():
    args = sys.argv[1:]
    no_golden = "--no-golden" in args
    names = [a for a in args if not a.startswith("--")] or list(STREAMS)
    os.makedirs(OUT, exist_ok=True)
    index = {}
    for name, spec in STREAMS.items():
        raw, entry = build(name, spec)
        index[name] = entry
        if name not in names:
            continue
        if not no_golden:
            for old in os.listdir(OUT):  # goldens of offsets that moved
                if old.startswith(f"{name}.at-") and old.endswith(".txt"):
                    os.remove(os.path.join(OUT, old))
        raw_path = os.path.join(OUT, f"{name}.raw")
        with open(raw_path, "wb") as f:
            f.write(raw)
        if not no_golden:
            for off in entry["golden_offsets"]:
                golden(name, raw_path, entry, off)
        print(f"{name}: {len(raw)} bytes, offsets {entry['golden_offsets']}")
    with open(os.path.join(OUT, "index.json"), "w") as f:
        json.dump(index, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
