#!/usr/bin/env python3
"""One unit's FPGA mapping, read from Yosys: resources and the deepest register-to-register path.

Usage: fpga_report.py TITLE NETLIST_JSON TOP

NETLIST_JSON is `write_json` after `synth_xilinx -family xcup`, with the hierarchy kept (one
module per distinct unit): the resources of every module are summed over its instances from the
top, as the generic flow's `stat -top` does.

The depth is measured per module, on the paths between its sequential cells and ports
(flip-flops, block RAM, UltraRAM, LUT RAM and shift registers, and DSP48E2 whose internal
registers are in use), two ways: the most LUT levels on any path (MUXF7/F8/F9 count half a
level; inverters, which a placer absorbs into LUTs, none), and the most combinational cells on
any path (LUTs, wide multiplexers, carry cells of 4 bits and combinational DSP48E2: what
`ltp -noff` counts). A path that leaves a module through a port is cut there: each module is
measured on its own.
"""
import json
import sys
from collections import defaultdict

DSP_REGS = ("AREG", "BREG", "CREG", "DREG", "ADREG", "MREG", "PREG")
# With FPGA_REPORT_PATHS=1 in the environment, each module's deepest path is named on stderr
# (the source lines of its cells, end first).
PATHS = bool(__import__("os").environ.get("FPGA_REPORT_PATHS"))


def param_int(v):
    if isinstance(v, int):
        return v
    try:
        return int(v, 2)
    except ValueError:
        return 0


def is_boundary(cell):
    """Whether a path starts and ends at this cell: anything but combinational logic (LUTs,
    inverters, wide multiplexers, carry cells, and DSP48E2 whose internal registers are all
    off), so flip-flops, memories, shift registers, clock buffers and the instances of other
    modules of the design (each measured on its own)."""
    t = cell["type"]
    if t.startswith(("LUT", "INV", "MUXF", "CARRY")):
        return False
    if t == "DSP48E2":
        return any(param_int(cell["parameters"].get(r, 0)) > 0 for r in DSP_REGS)
    return True


def weights(t):
    """What one cell adds to a path: (LUT levels, combinational cells as `ltp` counts them)."""
    if t.startswith("LUT"):
        return (1.0, 1)
    if t.startswith("MUXF"):
        return (0.5, 1)
    if t.startswith("CARRY") or t == "DSP48E2":
        return (0.0, 1)
    return (0.0, 0)


def input_bits(cell, port, index):
    """The input bits that output bit `index` of `port` depends on: all of them, but for a
    carry cell, whose output i reads only stages 0 ..= i (and the carry in)."""
    conns, dirs = cell["connections"], cell["port_directions"]
    if cell["type"].startswith("CARRY"):
        out = []
        for p, bits in conns.items():
            if dirs.get(p) != "input":
                continue
            out.extend(bits if p in ("CI", "CI_TOP", "CYINIT") else bits[: index + 1])
        return out
    return [b for p, bits in conns.items() if dirs.get(p) == "input" for b in bits]


def deepest(module):
    """The most LUT levels on any register-to-register path of `module`, and the most
    combinational cells (LUTs, wide multiplexers, carry cells, combinational DSP48E2) on any
    such path. Evaluated bit by bit (a carry cell's outputs are its stages), in topological
    order."""
    cells = module["cells"]
    # Every output bit of a combinational cell is a node: (cell, port, index).
    driver = {}
    for name, c in cells.items():
        if is_boundary(c):
            continue
        for port, bits in c["connections"].items():
            if c["port_directions"].get(port) == "output":
                for i, b in enumerate(bits):
                    if isinstance(b, int):
                        driver[b] = (name, port, i)
    fanin = {}
    fanout = defaultdict(list)
    for node in set(driver.values()):
        name, port, i = node
        deps = {
            driver[b] for b in input_bits(cells[name], port, i) if isinstance(b, int) and b in driver
        }
        fanin[node] = deps
        for d in deps:
            fanout[d].append(node)
    pending = {n: len(f) for n, f in fanin.items()}
    ready = [n for n, k in pending.items() if k == 0]
    best = {}
    # The fan-in each node's LUT-level count came through (to name the deepest path).
    via = {}
    while ready:
        node = ready.pop()
        w = weights(cells[node[0]]["type"])
        deepest_in = max(fanin[node], key=lambda f: best[f][0], default=None)
        luts = best[deepest_in][0] if deepest_in is not None else 0.0
        chain = max((best[f][1] for f in fanin[node]), default=0)
        best[node] = (luts + w[0], chain + w[1])
        via[node] = deepest_in
        for o in fanout[node]:
            pending[o] -= 1
            if pending[o] == 0:
                ready.append(o)
    if len(best) != len(pending):
        raise SystemExit("a combinational loop in the mapped netlist")
    if PATHS and best:
        # The signal names of the RTL (Yosys's own are hidden) a path's bits carry.
        names = {}
        for net, v in sorted(module.get("netnames", {}).items(), key=lambda e: e[1].get("hide_name", 0)):
            if v.get("hide_name"):
                # Yosys's own names keep the RTL signal they come from after a backslash.
                if "\\" not in net:
                    continue
                net = "~" + net.split("\\", 1)[1].split("[")[0].split("$")[0]
            for b in v["bits"]:
                if isinstance(b, int):
                    names.setdefault(b, net)
        end = max(best, key=lambda n: best[n][0])
        end_bit = cells[end[0]]["connections"][end[1]][end[2]]
        # The registers (or memories) the path ends in: what the end bit drives.
        sources = sorted({
            "@" + names.get(c["connections"].get(q, [None])[0], n)
            for n, c in cells.items() if is_boundary(c)
            for q in ("Q", "DOUTB", "DOUT", "O", "Q31")
            if any(end_bit in bits for p, bits in c["connections"].items()
                   if c["port_directions"].get(p) == "input")
        })[:3]
        node, first = end, end
        while node is not None:
            name, port, i = node
            bit = cells[name]["connections"][port][i]
            src = names.get(bit)
            if src and (not sources or sources[-1] != src):
                sources.append(src)
            first = node
            node = via[node]
        # And the register it starts from.
        starts = [names.get(b) for b in input_bits(cells[first[0]], first[1], first[2])
                  if isinstance(b, int) and b not in driver]
        sources += sorted({"@" + n for n in starts if n})[:3]
        print(f"  deepest path ({best[end][0]} LUT levels), end first: {' <- '.join(sources)}",
              file=sys.stderr)
    return (
        max((v[0] for v in best.values()), default=0.0),
        max((v[1] for v in best.values()), default=0),
    )


def self_test():
    """The depth on small hand-made netlists (run by hdl/synth_fpga.sh before it maps)."""

    def cell(t, ins, outs, params=None):
        return {
            "type": t,
            "parameters": params or {},
            "port_directions": {**{p: "input" for p in ins}, **{p: "output" for p in outs}},
            "connections": {**ins, **outs},
        }

    # FF -> LUT -> LUT -> carry (2 cells, stage 0 of the second read from the first's CO[3])
    # -> FF, and a side path FF -> LUT -> FF.
    cells = {
        "ff0": cell("FDRE", {"D": [1]}, {"Q": [2]}),
        "l1": cell("LUT2", {"I0": [2], "I1": [2]}, {"O": [3]}),
        "l2": cell("LUT2", {"I0": [3], "I1": [2]}, {"O": [4]}),
        "c0": cell("CARRY4", {"CI": ["0"], "CYINIT": ["0"], "DI": [4, 4, 4, 4], "S": [4, 4, 4, 4]},
                   {"CO": [10, 11, 12, 13], "O": [20, 21, 22, 23]}),
        "c1": cell("CARRY4", {"CI": [13], "CYINIT": ["0"], "DI": [5, 5, 5, 5], "S": [5, 5, 5, 5]},
                   {"CO": [14, 15, 16, 17], "O": [24, 25, 26, 27]}),
        "ff1": cell("FDRE", {"D": [27]}, {"Q": [5]}),
        "l3": cell("LUT6", {"I0": [5]}, {"O": [6]}),
        "ff2": cell("FDRE", {"D": [6]}, {"Q": [7]}),
        # A carry cell whose low output feeds a LUT that drives its own high stage: no loop bit
        # by bit.
        "c2": cell("CARRY4", {"CI": ["0"], "CYINIT": ["0"], "DI": [7, 7, 7, 30], "S": [7, 7, 7, 30]},
                   {"CO": [31, 32, 33, 34], "O": [35, 36, 37, 38]}),
        "l4": cell("LUT2", {"I0": [35]}, {"O": [30]}),
        # A registered DSP is a boundary; an unregistered one is a cell of the path.
        "d0": cell("DSP48E2", {"A": [7]}, {"P": [40]}, {"PREG": "1"}),
        "d1": cell("DSP48E2", {"A": [40]}, {"P": [41]}, {"PREG": "0"}),
        "l5": cell("LUT2", {"I0": [41]}, {"O": [42]}),
    }
    levels, chain = deepest({"cells": cells})
    assert levels == 2, levels  # l1 -> l2 (the carry cells are no LUT level)
    assert chain == 4, chain  # l1, l2, c0, c1 (c2 -> l4 -> c2's stage 3 is 3; d1 -> l5 is 2)
    print("fpga_report self-test: ok")


def main():
    if sys.argv[1:] == ["--self-test"]:
        return self_test()
    title, net_path, top = sys.argv[1:4]
    net = json.load(open(net_path))["modules"]
    # Cells by type of every module of the design (the primitives' own entries are black boxes).
    stat = {}
    for m, v in net.items():
        if v.get("attributes", {}).get("blackbox") or not v.get("cells") and m != top:
            continue
        by_type = defaultdict(int)
        for c in v.get("cells", {}).values():
            by_type[c["type"]] += 1
        stat[m] = by_type

    # Instances of every module under the top.
    counts = defaultdict(int)

    def walk(mod, mult):
        counts[mod] += mult
        for t, n in stat[mod].items():
            if t in stat:
                walk(t, mult * n)

    walk(top, 1)
    total = defaultdict(int)
    for mod, n in counts.items():
        for t, k in stat[mod].items():
            if t not in stat:
                total[t] += n * k
    luts = sum(k for t, k in total.items() if t.startswith("LUT"))
    ffs = sum(k for t, k in total.items() if t.startswith("FD"))
    carry = sum(k for t, k in total.items() if t.startswith("CARRY"))
    lutram = sum(k for t, k in total.items() if t.startswith("RAM") and not t.startswith("RAMB"))
    srl = sum(k for t, k in total.items() if t.startswith("SRL"))
    ramb36 = total.get("RAMB36E2", 0)
    ramb18 = total.get("RAMB18E2", 0)
    uram = total.get("URAM288", 0)
    dsp = total.get("DSP48E2", 0)
    depths = [deepest(net[m]) for m in counts]
    levels = max(d[0] for d in depths)
    chain = max(d[1] for d in depths)
    print(
        f"{title:<34} {dsp:>6} {luts:>9} {ffs:>9} {carry:>7} {lutram + srl:>7} "
        f"{ramb36:>6} {ramb18:>6} {uram:>5} {levels:>7g} {chain:>6}"
    )


if __name__ == "__main__":
    main()
