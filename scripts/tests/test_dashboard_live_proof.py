"""The live proof's own safeguards: the password never reaches its output.

    python3 -m unittest discover -s scripts/tests -v
"""

from __future__ import annotations

import io
import sys
import tempfile
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import dashboard_live_proof as proof  # noqa: E402
import pg_cluster  # noqa: E402


class Masking(unittest.TestCase):
    def test_the_password_is_masked_wherever_it_is_written(self):
        out = io.StringIO()
        masked = proof.Masking(out, pg_cluster.PASSWORD)
        print(f"error: psql postgres://flags:{pg_cluster.PASSWORD}@h/bot: failed", file=masked)
        masked.write(f"{pg_cluster.PASSWORD}{pg_cluster.PASSWORD}\n")
        self.assertNotIn(pg_cluster.PASSWORD, out.getvalue())
        self.assertEqual(out.getvalue(), "error: psql postgres://flags:***@h/bot: failed\n******\n")

    def test_other_text_passes_unchanged(self):
        out = io.StringIO()
        text = "  fleet: PostgreSQL on 5432 loaded\n"
        self.assertEqual(proof.Masking(out, pg_cluster.PASSWORD).write(text), len(text))
        self.assertEqual(out.getvalue(), text)


class PasswordLeaks(unittest.TestCase):
    def test_a_log_or_an_output_holding_the_password_is_named(self):
        with tempfile.TemporaryDirectory() as folder:
            folder = Path(folder)
            (folder / "sync.log").write_text("connected to 127.0.0.1:5432\n")
            (folder / "guard.log").write_text("nothing here\n")
            self.assertEqual(proof.password_leaks(folder, ["imported"]), [])
            (folder / "sync.log").write_text(f"cannot connect to postgres://flags:{pg_cluster.PASSWORD}@db/bot\n")
            self.assertEqual(proof.password_leaks(folder, ["imported", f"pw {pg_cluster.PASSWORD}"]),
                             ["sync.log", "output 1"])


if __name__ == "__main__":
    unittest.main()
