"""Synthetic seizures with ground truth: invented people, benign generated images, realistic mess.

``generate(out, people)`` writes a distributor's back office as it would be seized (customer lists in several
encodings and languages, orders, address book, mailbox, payments, media and a forensic hash list), a known hash
set, and ground truth that says which person every record belongs to. See README.md in this folder.
"""

from threadline.synth.generate import generate
from threadline.synth.report import SynthReport

__all__ = ["SynthReport", "generate"]
