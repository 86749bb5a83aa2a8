"""Stage refer: leads per subject and agency, and signed, encrypted referral packages."""
