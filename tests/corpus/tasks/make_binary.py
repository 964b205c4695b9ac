"""Write the corpus's binary data files (run from anywhere; pyarrow only, no `datasets` needed).

good/data/numbers.parquet     a parquet file: question, answer (int), split
good/data/hfdir/              the layout `datasets.DatasetDict.save_to_disk` writes: dataset_dict.json,
                              <split>/data-00000-of-00001.arrow (an Arrow IPC stream), state.json,
                              dataset_info.json
bad/data/not_parquet.parquet  text with a .parquet name (unreadable)
"""
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent


def main() -> None:
    good = HERE / "good" / "data"
    rows = [{"question": f"What is {a} plus {b}?", "answer": a + b, "split": "train" if i < 3 else "test"}
            for i, (a, b) in enumerate([(1, 2), (3, 4), (5, 6), (7, 8), (9, 10), (11, 12)])]
    pq.write_table(pa.Table.from_pylist(rows), good / "numbers.parquet")

    hf = good / "hfdir"
    splits = {"train": rows[:3], "test": rows[3:]}
    hf.mkdir(exist_ok=True)
    (hf / "dataset_dict.json").write_text(json.dumps({"splits": list(splits)}))
    for name, part in splits.items():
        d = hf / name
        d.mkdir(exist_ok=True)
        table = pa.Table.from_pylist([{"question": r["question"], "answer": r["answer"]} for r in part])
        with pa.OSFile(str(d / "data-00000-of-00001.arrow"), "wb") as sink:
            with pa.ipc.new_stream(sink, table.schema) as writer:
                writer.write_table(table)
        (d / "state.json").write_text(json.dumps({"_data_files": [{"filename": "data-00000-of-00001.arrow"}],
                                                  "_split": name, "_format_type": None}))
        (d / "dataset_info.json").write_text(json.dumps({"features": {"question": {"dtype": "string"},
                                                                      "answer": {"dtype": "int64"}}}))
    (HERE / "bad" / "data" / "not_parquet.parquet").write_text("question,answer\nthis is not parquet,1\n")


if __name__ == "__main__":
    main()
