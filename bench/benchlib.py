"""Shared helpers of the bench/ scripts: the run header (machine, date, versions, command), interleaved timing
(A, B, A, B, ... after warm-up; medians) and markdown tables. Results of the latest run: BENCHMARKS.md.

Not a test and not part of the library: `bench/` scripts are run by hand and print markdown.
"""
import datetime, os, platform, statistics, subprocess, sys, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path: sys.path.insert(0, ROOT)  # carl_nb importable from a clone


def cpu_name()->str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"): return line.split(":", 1)[1].strip()
    except OSError: pass
    return platform.processor() or platform.machine()


def mem_gib()->float:
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal"): return int(line.split()[1]) / 2**20
    except OSError: pass
    return float("nan")


def git_commit()->str:
    try:
        rev = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                             check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True).stdout.strip()
        return rev + (" + uncommitted changes" if dirty else "")
    except (OSError, subprocess.CalledProcessError): return "unknown"


def versions()->str:
    import torch
    out = [f"python {platform.python_version()}", f"torch {torch.__version__}"]
    for mod in ("transformers", "sentence_transformers", "pytorch_metric_learning"):
        try: out.append(f"{mod.replace('_', '-')} {__import__(mod).__version__}")
        except ImportError: pass
    return ", ".join(out)


def header(title:str, *, device:str="cpu"):
    "Print the markdown header of one run: what ran, where, when, with which versions and threads."
    import torch
    cmd = " ".join(["python", os.path.relpath(sys.argv[0], ROOT)] + sys.argv[1:])
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    env = " ".join(f"{k}={os.environ[k]}" for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS") if k in os.environ)
    print(f"## {title}\n")
    print(f"- command: `{(env + ' ') if env else ''}{cmd}`")
    print(f"- machine: {cpu_name()}, {os.cpu_count()} CPUs visible, {mem_gib():.0f} GiB RAM; "
          f"torch threads {torch.get_num_threads()}; device {device}"
          + (f" ({torch.cuda.get_device_name()})" if device.startswith("cuda") else ""))
    try: load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError: load = "?"
    print(f"- date: {now}; load average at start {load}; carl_nb at git {git_commit()}")
    print(f"- versions: {versions()}\n")
    sys.stdout.flush()


def sync_for(device)->callable:
    import torch
    return torch.cuda.synchronize if str(device).startswith("cuda") else (lambda: None)


def interleaved(fns:dict, *, rounds:int, warmup:int=1, sync=lambda: None, rotate:bool=True)->dict:
    """Time every callable of `fns` once per round, round after round (A, B, C, A, B, C, ...), after `warmup`
    untimed rounds. With `rotate` the starting callable moves by one each round, so no entry always runs right
    after the same neighbour. Returns name -> list of seconds."""
    names = list(fns)
    times = {n: [] for n in names}
    for r in range(warmup + rounds):
        order = names[r % len(names):] + names[:r % len(names)] if rotate else names
        for n in order:
            sync(); t0 = time.perf_counter(); fns[n](); sync()
            if r >= warmup: times[n].append(time.perf_counter() - t0)
    return times


def med(xs)->float: return statistics.median(xs)


def spread(xs)->str:
    "Interquartile range of `xs` relative to the median, as '±x%' (half the IQR)."
    if len(xs) < 4: return "-"
    q = statistics.quantiles(xs, n=4)
    return f"±{(q[2] - q[0]) / 2 / statistics.median(xs) * 100:.0f}%"


def table(header:list, rows:list):
    "Print a markdown table."
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" for _ in header) + "|")
    for r in rows: print("| " + " | ".join(str(x) for x in r) + " |")
    print()
    sys.stdout.flush()
