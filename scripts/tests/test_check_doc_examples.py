"""The doc-example runner itself: a failing block fails it, a marked block is
skipped or held to its exit status, and a marker without a reason is refused
(a runner that passed everything would let the docs drift)."""

from __future__ import annotations

import os
import sys
import tempfile
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import check_doc_examples as cde  # noqa: E402

DOC = """# A doc

```sh
echo fine
```

<!-- not run: needs systemd -->
```sh
exit 7
```

<!-- expect: exit 1 -->
```sh
false
```

   ```sh
   test -f made_by_block_one || touch made_by_block_one
   ```

```yaml
not: a shell block
```
"""


class RunDoc(unittest.TestCase):
    def run_text(self, text):
        with tempfile.TemporaryDirectory() as tmp:
            doc = os.path.join(tmp, "doc.md")
            Path(doc).write_text(text, encoding="utf-8")
            failures = cde.run_doc(doc, dict(os.environ), tmp, [])
            return failures, sorted(os.listdir(tmp))

    def test_passing_doc_passes_and_blocks_share_one_folder(self):
        failures, files = self.run_text(DOC)
        self.assertEqual(failures, [])
        self.assertIn("made_by_block_one", files)

    def test_a_failing_block_fails(self):
        failures, _ = self.run_text(DOC + "\n```sh\necho before\nfalse\necho after\n```\n")
        self.assertEqual(len(failures), 1)
        self.assertIn("exit 1, expected 0", failures[0])

    def test_a_block_expected_to_fail_must_fail(self):
        failures, _ = self.run_text("<!-- expect: exit 1 -->\n```sh\ntrue\n```\n")
        self.assertEqual(len(failures), 1)
        self.assertIn("exit 0, expected 1", failures[0])

    def test_a_pipeline_failure_is_not_hidden(self):
        failures, _ = self.run_text("```sh\nfalse | cat\n```\n")
        self.assertEqual(len(failures), 1)

    def test_not_run_needs_a_reason(self):
        failures, _ = self.run_text("<!-- not run: -->\n```sh\ntrue\n```\n")
        self.assertEqual(len(failures), 1)
        self.assertIn("without a reason", failures[0])

    def test_substitutions_apply(self):
        with tempfile.TemporaryDirectory() as tmp:
            doc = os.path.join(tmp, "doc.md")
            Path(doc).write_text("```sh\ntest \"$(echo /srv/x)\" = /tmp/y\n```\n", encoding="utf-8")
            self.assertEqual(cde.run_doc(doc, dict(os.environ), tmp, [("/srv/x", "/tmp/y")]), [])

    def test_the_real_docs_have_blocks_to_run(self):
        for doc in ("docs/operators.md", "docs/fleet.md"):
            found = cde.blocks(os.path.join(cde.ROOT, doc))
            shell = [b for b in found if b[1] == "sh" and not b[2]]
            self.assertGreaterEqual(len(shell), 3, doc)


if __name__ == "__main__":
    unittest.main()
