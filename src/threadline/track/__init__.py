"""Stage track: every lead followed hop by hop to its outcome; clocks, escalation, status files, reports."""
