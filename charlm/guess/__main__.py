"""`python -m charlm.guess --data tinyshakespeare.txt`: rewrite the held-out tenth /guess ships."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from charlm.data import read_text
from charlm.errors import CharLMError
from charlm.guess.corpus import HELD_OUT_FILE, held_out_part


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m charlm.guess",
                                     description="Write the held-out tenth that /guess ships.")
    parser.add_argument("--data", type=Path, required=True, help="tinyshakespeare.txt")
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name(HELD_OUT_FILE))
    args = parser.parse_args(argv)
    try:
        text, _ = read_text(args.data)
    except CharLMError as error:
        print(f"{parser.prog}: error: {error}", file=sys.stderr)
        return 2
    held_out = held_out_part(text)
    args.out.write_text(held_out, encoding="utf-8")
    print(f"wrote {len(held_out):,} characters to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
