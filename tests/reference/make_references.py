"""Writes every reference output the C++ tests compare against into the folder given."""
import pathlib
import sys

import dequant_reference
import forward_reference
import tokenizer_reference

if __name__ == "__main__":
    out = pathlib.Path(sys.argv[1])
    tokenizer_reference.main(out)  # the forward reference reads its token ids
    dequant_reference.main(out)
    forward_reference.main(out)
