"""`python -m pixstock.translations.update [th.json]`: extract strings, update catalogs, merge translations.

Translations are kept in `<locale>.json` beside this file (msgid -> text), reviewed like code;
the .po files are regenerated from them and the .mo files compiled by `make install`.
"""
import json
import subprocess
import sys
from pathlib import Path

from babel.messages.pofile import read_po, write_po

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent


def main() -> int:
    """Re-extract messages and fill every catalog from its JSON translations."""
    pot = HERE / "messages.pot"
    bin_dir = Path(sys.executable).parent
    subprocess.run([bin_dir / "pybabel", "-q", "extract", "-F", ROOT / "babel.cfg", "-k", "_l", "-k", "lazy_gettext",
                    "--no-location", "--sort-output", "-o", pot, ROOT / "pixstock", ROOT / "templates"], check=True, cwd=ROOT)
    with pot.open("rb") as handle:
        template = read_po(handle)
    missing_total = 0
    for source in sorted(HERE.glob("*.json")):
        locale = source.stem
        translations = json.loads(source.read_text(encoding="utf-8"))
        po_path = HERE / locale / "LC_MESSAGES" / "messages.po"
        po_path.parent.mkdir(parents=True, exist_ok=True)
        catalog = read_po(pot.open("rb"), locale=locale)
        catalog.revision_date = template.creation_date
        catalog.fuzzy = False
        missing = []
        for message in catalog:
            if not message.id:
                continue
            key = message.id if isinstance(message.id, str) else message.id[0]
            if key in translations:
                message.string = translations[key]
            else:
                missing.append(key)
        with po_path.open("wb") as handle:
            write_po(handle, catalog, width=0, omit_header=False)
        print(f"{locale}: {len(translations)} translations, {len(missing)} missing")
        for key in missing:
            print(f"  missing: {key}")
        missing_total += len(missing)
    return 0


if __name__ == "__main__":
    sys.exit(main())
