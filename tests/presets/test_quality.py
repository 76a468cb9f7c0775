"""presets/quality.json: it reads back as it is written, a bench run replaces only its own measurement, and
the headline follows the figure it named."""

import json
import shutil
from dataclasses import replace

import pytest

from ganforge.errors import GanforgeError
from ganforge.presets.quality import (
    QUALITY_FILE,
    Figure,
    Measurement,
    format_number,
    headline,
    read_quality,
    record,
    write_quality,
)


def run(dataset="mnist", budget_s=600.0, figures=(("fid", 30.0), ("domain_fid", 150.0))):
    return Measurement(dataset=dataset, conditional=False, budget=f"{budget_s:g} s of one core: 100 steps of 64",
                       steps=100, batch_size=64, machine="test CPU", command="python bench/preset_quality.py",
                       figures=tuple(Figure(metric=m, value=v, n=2000) for m, v in figures), budget_s=budget_s)


def test_the_file_reads_back_as_written(tmp_path):
    # The writer's layout is the file's: recording one preset leaves every other line as it was.
    data = read_quality(QUALITY_FILE)
    write_quality(data, tmp_path / "q.json")
    assert (tmp_path / "q.json").read_text(encoding="utf-8") == QUALITY_FILE.read_text(encoding="utf-8")
    assert json.loads(QUALITY_FILE.read_text(encoding="utf-8"))  # plain JSON for any other reader


def test_a_bench_run_replaces_its_own_measurement_and_keeps_the_rest(tmp_path):
    path = tmp_path / "quality.json"
    shutil.copy(QUALITY_FILE, path)
    before = read_quality(path)
    old_600 = next(m for m in before["dcgan-28-fast"] if m.budget_s == 600)

    def same(m):
        return m.dataset == "mnist" and m.budget_s == 600

    new = run(figures=(("domain_fid", 140.0), ("fid", 21.0)))
    rec = record("dcgan-28-fast", new, same, path)
    after = read_quality(path)
    assert after["dcgan-28-fast"] == rec
    assert old_600 not in rec and [m for m in before["dcgan-28-fast"] if m is not old_600] == rec[:-1]
    assert {k: v for k, v in after.items() if k != "dcgan-28-fast"} == \
        {k: v for k, v in before.items() if k != "dcgan-28-fast"}
    # the headline was the replaced run's FID: it moves to the new run's FID
    m, fig = headline(rec)
    assert m.figures == rec[-1].figures and (fig.metric, fig.value) == ("fid", 21.0)

    # another budget is another measurement: added, and the headline stays
    rec = record("dcgan-28-fast", run(budget_s=60.0), lambda m: m.dataset == "mnist" and m.budget_s == 60, path)
    assert len(rec) == len(after["dcgan-28-fast"]) + 1 and headline(rec)[1].value == 21.0


def test_a_new_record_leads_with_an_fid_else_the_modes_else_the_domain_fid(tmp_path):
    path = tmp_path / "quality.json"
    rec = record("p", run(figures=(("confident", 0.5), ("domain_fid", 150.0))), lambda m: False, path)
    assert headline(rec)[1].metric == "domain_fid"
    rec = record("q", run(figures=(("modes", 990), ("modes_kl", 0.2), ("domain_fid", 150.0))), lambda m: False, path)
    assert headline(rec)[1].metric == "modes"
    assert set(read_quality(path)) == {"p", "q"}


def test_a_record_needs_one_headline_and_known_fields(tmp_path):
    path = tmp_path / "quality.json"
    good = run()
    two = replace(good, figures=tuple(replace(f, headline=True) for f in good.figures))
    with pytest.raises(GanforgeError, match="2 headline figures"):
        write_quality({"p": [two]}, path)
    path.write_text(json.dumps({"p": {"measurements": [{**good.to_dict(), "colour": "red"}]}}))
    with pytest.raises(GanforgeError, match="unknown fields colour"):
        read_quality(path)
    assert read_quality(tmp_path / "absent.json") == {}


def test_figures_read_as_written():
    assert [format_number(v) for v in (22.5, 0.0109, 1260.7, 4681.8, 1000, 15301, 200)] == \
        ["22.5", "0.0109", "1,261", "4,682", "1,000", "15,301", "200"]
    fid = Figure(metric="fid", value=22.5, n=2000)
    assert (fid.short(), fid.text()) == ("FID 22.5", "Inception FID 22.5 (n = 2,000)")
    kid = Figure(metric="kid_mean", value=0.0109, n=2000, std=0.0005)
    assert kid.text() == "Inception KID 0.0109 ± 0.0005 (n = 2,000)"
    assert Figure(metric="modes", value=1000, n=26000).short() == "1,000 modes"
    assert Figure(metric="class_accuracy", value=0.9922, n=10000).figure == "99.22%"
    hinge = Figure(metric="domain_fid", value=156.6, n=5000,
                   baseline={"preset": "dcgan-28-fast", "value": 176.2, "train_seconds": 157})
    assert hinge.text() == "domain FID 156.6 (n = 5,000; dcgan-28-fast: 176.2 in 157 s)"
    assert Figure(metric="domain_fid", value=200, n=5000, compare="<=").short() == "domain FID <= 200"
