"""Charts of make bench: charts.py RESULTS.json OUT_DIR.

throughput-p99.png  achieved throughput vs p99 per scenario (50 %, 80 %,
                    saturation), one panel per connection count × protocol
latency-cdf.png     latency by percentile at 80 % load, same panels
soak.png            RSS and goroutines over each soak
"""
import json
import sys

import matplotlib.pyplot as plt

LOADS = ["50%", "80%", "saturation"]
PANELS = [(16, "http1"), (16, "h2c"), (64, "http1"), (64, "h2c")]


def runs_of(res, scenario, conns, proto):
    if scenario == "e-kafka-go":
        proto = "kafka"
    by_load = {}
    for r in res["runs"]:
        if r["scenario"] == scenario and r["conns"] == conns and r["proto"] == proto:
            by_load[r["load"]] = r
    return by_load


def label(sc):
    return "(%s) %s" % (sc["id"], sc["title"])


def keys(res):
    return [(sc["id"] + "-" + sc["adapter"], sc) for sc in res["scenarios"]
            if any(r["scenario"] == sc["id"] + "-" + sc["adapter"] for r in res["runs"])]


def throughput_p99(res, out):
    fig, axes = plt.subplots(2, 2, figsize=(13, 9), sharey=False)
    for ax, (conns, proto) in zip(axes.flat, PANELS):
        for key, sc in keys(res):
            by = runs_of(res, key, conns, proto)
            pts = [(by[l]["summary"]["throughput_rps"], by[l]["summary"]["latency_ms"]["p99"]) for l in LOADS if l in by]
            if pts:
                ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=label(sc))
        ax.set_title("%d connections, %s" % (conns, "HTTP/1.1" if proto == "http1" else "h2c"))
        ax.set_xlabel("throughput (req/s)")
        ax.set_ylabel("p99 latency (ms)")
        ax.set_yscale("log")
        ax.grid(True, which="both", alpha=0.3)
    axes.flat[0].legend(fontsize=8)
    fig.suptitle("Throughput vs p99 at 50 %, 80 % and 100 % of each scenario's saturation")
    fig.tight_layout()
    fig.savefig(out + "/throughput-p99.png", dpi=90)


def latency_cdf(res, out):
    fig, axes = plt.subplots(2, 2, figsize=(13, 9))
    for ax, (conns, proto) in zip(axes.flat, PANELS):
        for key, sc in keys(res):
            r = runs_of(res, key, conns, proto).get("80%")
            if not r or not r["summary"].get("cdf"):
                continue
            pts = [(c["p"], c["ms"]) for c in r["summary"]["cdf"] if c["p"] < 100]
            ax.plot([1 / (1 - p / 100) for p, _ in pts], [ms for _, ms in pts], label=label(sc))
        ax.set_xscale("log")
        ax.set_yscale("log")
        ticks = [2, 10, 100, 1000, 10000]
        ax.set_xticks(ticks)
        ax.set_xticklabels(["p50", "p90", "p99", "p99.9", "p99.99"])
        ax.set_title("80 %% load, %d connections, %s" % (conns, "HTTP/1.1" if proto == "http1" else "h2c"))
        ax.set_xlabel("percentile")
        ax.set_ylabel("latency (ms)")
        ax.grid(True, which="both", alpha=0.3)
    axes.flat[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out + "/latency-cdf.png", dpi=90)


def soak(res, out):
    soaks = res.get("soaks") or []
    if not soaks:
        return
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.5))
    for s in soaks:
        t = [x["at_s"] for x in s["samples"]]
        for proc in sorted({p for x in s["samples"] for p in x["rss_kib"]}):
            axes[0].plot(t, [x["rss_kib"].get(proc, 0) / 1024 for x in s["samples"]], label="%s: %s" % (s["scenario"], proc))
        axes[1].plot(t, [x["goroutines"] for x in s["samples"]], label=s["scenario"])
    axes[0].set_title("RSS (MiB)")
    axes[1].set_title("goroutines of the module or server (under load: one per request in flight)")
    for ax in axes:
        ax.set_xlabel("seconds")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
        ax.set_ylim(bottom=0)
    fig.tight_layout()
    fig.savefig(out + "/soak.png", dpi=90)


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: charts.py RESULTS.json OUT_DIR")
    with open(sys.argv[1]) as f:
        res = json.load(f)
    res["runs"] = res.get("runs") or []
    throughput_p99(res, sys.argv[2])
    latency_cdf(res, sys.argv[2])
    soak(res, sys.argv[2])


if __name__ == "__main__":
    main()
