"""Rebuild carl_nb/data/vader_sentences.csv.gz from the vaderSentiment 3.3.2 sdist (MIT licence).

The sdist ships `additional_resources/hutto_ICWSM_2014.tar.gz`, the human-rated sentences of
Hutto & Gilbert (2014): four domains, each sentence the mean of >= 20 ratings on -4..+4.
Usage:  python scripts/build_vader_data.py [path/to/vaderSentiment-3.3.2.tar.gz]
Without a path the sdist is fetched with `pip download --no-binary :all: vaderSentiment==3.3.2`.
"""
import csv, gzip, io, subprocess, sys, tarfile, tempfile
from pathlib import Path

DOMAINS = {"tweets": "tweets_GroundTruth.txt", "movie_reviews": "movieReviewSnippets_GroundTruth.txt",
           "nyt_editorials": "nytEditorialSnippets_GroundTruth.txt", "amazon_reviews": "amazonReviewSnippets_GroundTruth.txt"}
OUT = Path(__file__).resolve().parents[1] / "carl_nb" / "data" / "vader_sentences.csv.gz"

def fetch_sdist(dest):
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
                    "vaderSentiment==3.3.2", "-d", str(dest)], check=True)
    return next(Path(dest).glob("vaderSentiment-3.3.2.tar.gz"))

def read_rows(sdist):
    with tarfile.open(sdist) as outer:
        inner_member = next(m for m in outer.getmembers() if m.name.endswith("additional_resources/hutto_ICWSM_2014.tar.gz"))
        inner = tarfile.open(fileobj=io.BytesIO(outer.extractfile(inner_member).read()))
        for domain, fname in DOMAINS.items():
            member = next(m for m in inner.getmembers() if m.name.endswith("/" + fname))
            raw = inner.extractfile(member).read().decode("utf-8")
            lines = [l for l in raw.replace("\r\n", "\n").split("\n") if l.strip()]
            for line in lines:
                sid, score, text = line.split("\t", 2)   # the text itself may contain tabs
                yield {"id": f"{domain}/{sid.strip()}", "domain": domain, "rating": float(score), "text": text.strip()}

def main(argv):
    with tempfile.TemporaryDirectory() as tmp:
        sdist = Path(argv[1]) if len(argv) > 1 else fetch_sdist(tmp)
        rows = list(read_rows(sdist))
    ids = [r["id"] for r in rows]
    assert len(set(ids)) == len(ids), "duplicate ids"
    OUT.parent.mkdir(parents=True, exist_ok=True)
    with gzip.GzipFile(OUT, "wb", mtime=0) as gz:   # mtime=0: byte-identical rebuilds
        with io.TextIOWrapper(gz, encoding="utf-8", newline="") as f:
            w = csv.DictWriter(f, fieldnames=["id", "domain", "rating", "text"])
            w.writeheader(); w.writerows(rows)
    print(f"wrote {len(rows)} sentences to {OUT} ({OUT.stat().st_size/1e6:.2f} MB)")

if __name__ == "__main__": main(sys.argv)
