"""Graph generators and the graph table they fill (one row per graph, edges as lists).

Random generators (``GENERATORS``): each graph draws its parameters with its own seed, derived from the global seed,
the generator's name and the graph's index, so adding graphs never changes the ones already drawn. A parameter's
setting is one of

- a list of choices, one drawn uniformly (``nodes: [12, 16, 20]``, ``p: [1.0]``);
- for ``nodes``, a range ``{min: 10, max: 50}``: an integer drawn uniformly, both ends included (the same draw as
  the list of every integer in it, so ``{min: 10, max: 12}`` and ``[10, 11, 12]`` give the same graphs);
- for an integer parameter (Barabási–Albert ``m``, Watts–Strogatz and Newman–Watts–Strogatz ``k``, random regular
  ``d``), a rule of the drawn node count: ``{nodes_div: 10}`` is ``nodes // 10``, computed after ``nodes`` is drawn.

``nodes`` is drawn first and the other keys in their order (``GENERATORS``), so lists of choices draw exactly what
they always drew. Every choice is checked before anything is drawn, for every node count a range allows and every
combination of choices (``m < nodes`` for every pair), so a bad config fails whatever the seed, with a
:class:`ConfigError` naming ``graphs.<generator>.<key>`` and what was expected; :func:`check_settings` runs the same
checks when a config is validated.

Options (single values): Watts–Strogatz ``connected`` (default ``true``: networkx's
``connected_watts_strogatz_graph``, which redraws until the graph is connected, up to 1000 times; ``false``: plain
``watts_strogatz_graph``); Erdős–Rényi ``isolated`` (below). Watts–Strogatz joins each node to its ``k // 2``
neighbours on either side (networkx), so an odd ``k`` acts as ``k - 1``, as in the paper's code.

User graphs (generator ``files``, settings ``{paths: [...]}``) are read by :mod:`sparsepipe.graphs.files`.

Only usable graphs enter the table (see :func:`sparsepipe.graphs.layered_dag`: at least 2 nodes, an edge, no
isolated node). Of the random generators only Erdős–Rényi can draw isolated nodes (Barabási–Albert with m >= 1,
both Watts–Strogatz variants (every node keeps its k // 2 forward ring edges), Newman–Watts–Strogatz's ring with
k >= 2 and d-regular graphs with d >= 1 cannot); what happens then is its ``isolated`` setting:

- ``redraw`` (default): draw again with the derived seeds ``derive_seed(seed, "redraw", 1)``, ``... 2)``, ... up to
  ``REDRAWS`` times; the graph is then an Erdős–Rényi graph conditioned on having no isolated node, with exactly
  the drawn number of nodes. If every draw has one, a :class:`GraphError` names the graph and suggests a larger p.
- ``drop``: remove the isolated nodes and renumber the others in order (0..n'-1), so ``nodes`` in the table can be
  less than the drawn ``params.nodes``; a draw left with no edge at all is redrawn as above.
"""

from __future__ import annotations

import itertools
import json
import numbers
import random
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import networkx as nx
import pandas as pd

from sparsepipe.errors import ConfigError, DataError, GraphError
from sparsepipe.graphs.layering import layered_dag, to_dag
from sparsepipe.seeds import derive_seed

GRAPH_COLUMNS = ["graph_id", "generator", "seed", "params", "nodes", "src", "dst"]
FILES = "files"  # the generator of user-supplied graphs
REDRAWS = 100  # draws of one random graph before giving up on getting a usable one
ISOLATED_POLICIES = ("redraw", "drop")

Builder = Callable[[Mapping[str, Any], int], nx.Graph]


def _barabasi_albert(params: Mapping[str, Any], seed: int) -> nx.Graph:
    return nx.barabasi_albert_graph(params["nodes"], params["m"], seed=seed)


def _watts_strogatz(params: Mapping[str, Any], seed: int, connected: bool = True) -> nx.Graph:
    if not connected:
        return nx.watts_strogatz_graph(params["nodes"], params["k"], params["p"], seed=seed)
    return nx.connected_watts_strogatz_graph(params["nodes"], params["k"], params["p"], tries=1000, seed=seed)


def _erdos_renyi(params: Mapping[str, Any], seed: int) -> nx.Graph:
    return nx.gnp_random_graph(params["nodes"], params["p"], seed=seed)


def _newman_watts_strogatz(params: Mapping[str, Any], seed: int) -> nx.Graph:
    return nx.newman_watts_strogatz_graph(params["nodes"], params["k"], params["p"], seed=seed)


def _random_regular(params: Mapping[str, Any], seed: int) -> nx.Graph:
    return nx.random_regular_graph(params["d"], params["nodes"], seed=seed)


# name -> (builder, the parameter keys drawn from the config's choices)
GENERATORS: dict[str, tuple[Builder, tuple[str, ...]]] = {
    "barabasi_albert": (_barabasi_albert, ("nodes", "m")),
    "watts_strogatz": (_watts_strogatz, ("nodes", "k", "p")),
    "erdos_renyi": (_erdos_renyi, ("nodes", "p")),
    "newman_watts_strogatz": (_newman_watts_strogatz, ("nodes", "k", "p")),
    "random_regular": (_random_regular, ("nodes", "d")),
}
GENERATOR_NAMES = (*GENERATORS, FILES)
# settings that are single values, not parameters drawn per graph: name -> {key: (allowed values, default)}
OPTIONS: dict[str, dict[str, tuple[tuple[Any, ...], Any]]] = {
    "erdos_renyi": {"isolated": (ISOLATED_POLICIES, "redraw")},
    "watts_strogatz": {"connected": ((True, False), True)},
}
BUILDER_OPTIONS = {"watts_strogatz": ("connected",)}  # options passed to the builder as keyword arguments
INTEGER_PARAMETERS = ("m", "k", "d")  # may be a rule of the node count
# rule name -> (value for a node count n and the rule's argument, how it reads)
NODE_RULES: dict[str, tuple[Callable[[int, int], int], str]] = {
    "nodes_div": (lambda n, divisor: n // divisor, "nodes // {}"),
}


# --- checks of the configured choices ------------------------------------------------------------------------

def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


# (name, key) -> (test of one choice, what was expected); a key not listed here uses (None, key)
_VALUE_CHECKS: dict[tuple[str | None, str], tuple[Callable[[Any], bool], str]] = {
    (None, "nodes"): (lambda v: _is_int(v) and v >= 2, "integers >= 2"),
    (None, "m"): (lambda v: _is_int(v) and v >= 1, "integers >= 1"),
    (None, "k"): (lambda v: _is_int(v) and v >= 2, "integers >= 2"),
    ("newman_watts_strogatz", "k"): (lambda v: _is_int(v) and v >= 2 and v % 2 == 0,
                                     "even integers >= 2 (k/2 ring neighbours on each side)"),
    (None, "p"): (lambda v: _is_number(v) and 0 <= v <= 1, "probabilities in [0, 1]"),
    ("erdos_renyi", "p"): (lambda v: _is_number(v) and 0 < v <= 1, "probabilities in (0, 1]"),
    (None, "d"): (lambda v: _is_int(v) and v >= 1, "integers >= 1"),
}


def _combination_error(name: str, params: Mapping[str, Any]) -> str | None:
    """What is wrong with one combination of parameters (``None`` when it is fine)."""
    n = params["nodes"]
    if name == "barabasi_albert" and not params["m"] < n:
        return f"m={params['m']} must satisfy 1 <= m < nodes={n}"
    if name in ("watts_strogatz", "newman_watts_strogatz") and not params["k"] < n:
        return f"k={params['k']} must satisfy 2 <= k < nodes={n}"
    if name == "random_regular":
        d = params["d"]
        if not d < n:
            return f"d={d} must satisfy 1 <= d < nodes={n}"
        if n * d % 2:
            return f"d={d} with nodes={n} makes nodes*d odd; expected nodes*d even"
    return None


def _node_counts(name: str, setting: Any) -> list[int]:
    """Every node count ``setting`` (a list of choices or a ``{min, max}`` range) can draw, checked."""
    where = f"graphs.{name}.nodes"
    if isinstance(setting, Mapping):
        if set(setting) != {"min", "max"}:
            raise ConfigError(f"{where}: expected a list of choices or a range {{min: ..., max: ...}}, got "
                              f"{dict(setting)!r}")
        low, high = setting["min"], setting["max"]
        bad = [v for v in (low, high) if not (_is_int(v) and v >= 2)]
        if bad:
            raise ConfigError(f"{where}: expected a range of integers >= 2, got {bad[0]!r}")
        if low > high:
            raise ConfigError(f"{where}: min={low} exceeds max={high}")
        return list(range(low, high + 1))
    return _choices(name, "nodes", setting)


def _choices(name: str, key: str, setting: Any) -> list[Any]:
    """A list of choices, each checked."""
    if isinstance(setting, str | bytes) or not isinstance(setting, Sequence) or not setting:
        rules = " or a rule of the node count {nodes_div: ...}" if key in INTEGER_PARAMETERS else ""
        range_ = " or a range {min: ..., max: ...}" if key == "nodes" else ""
        raise ConfigError(f"graphs.{name}.{key}: expected a non-empty list of choices{range_}{rules}, "
                          f"got {setting!r}")
    test, expected = _VALUE_CHECKS.get((name, key)) or _VALUE_CHECKS[(None, key)]
    bad = [v for v in setting if not test(v)]
    if bad:
        raise ConfigError(f"graphs.{name}.{key}: expected {expected}, got {bad[0]!r}")
    return list(setting)


def _rule(name: str, key: str, setting: Mapping[str, Any]) -> tuple[str, int]:
    """A rule of the node count, checked: (rule name, argument)."""
    where = f"graphs.{name}.{key}"
    if key not in INTEGER_PARAMETERS:
        raise ConfigError(f"{where}: expected a non-empty list of choices, got {dict(setting)!r}")
    if len(setting) != 1 or next(iter(setting)) not in NODE_RULES:
        raise ConfigError(f"{where}: expected a list of choices or one rule of the node count "
                          f"({', '.join(f'{{{r}: ...}}' for r in NODE_RULES)}), got {dict(setting)!r}")
    (rule, argument), = setting.items()
    if not (_is_int(argument) and argument >= 1):
        raise ConfigError(f"{where}.{rule}: expected an integer >= 1, got {argument!r}")
    return rule, argument


def _rule_value(rule: tuple[str, int], nodes: int) -> int:
    fn, _ = NODE_RULES[rule[0]]
    return fn(nodes, rule[1])


def _rule_text(rule: tuple[str, int]) -> str:
    return f"{{{rule[0]}: {rule[1]}}}, i.e. {NODE_RULES[rule[0]][1].format(rule[1])}"


def _check_option(name: str, key: str, value: Any) -> None:
    allowed, _ = OPTIONS[name][key]
    if not any(value is a or (type(value) is type(a) and value == a) for a in allowed):
        raise ConfigError(f"graphs.{name}.{key}: expected one of {list(allowed)}, got {value!r}")


def check_settings(name: str, settings: Mapping[str, Any], count: bool = True) -> None:
    """Every choice of every key, every node count a range allows, every value a rule gives and every combination
    of them, before anything is drawn; a :class:`ConfigError` names the key. ``count``: the block has a ``count``
    (the graphs' blocks do)."""
    check_generator(name)
    if name == FILES:
        return
    _, keys = GENERATORS[name]
    options = OPTIONS.get(name, {})
    head = ("count",) if count else ()
    if not isinstance(settings, Mapping):
        raise ConfigError(f"graphs.{name}: expected a mapping of settings, got {settings!r}")
    missing = [k for k in (*head, *keys) if k not in settings]
    if missing:
        raise ConfigError(f"graphs.{name}: missing keys {missing}")
    unknown = sorted(set(settings) - {*head, *keys, *options})
    if unknown:
        raise ConfigError(f"graphs.{name}: unknown keys {unknown}; expected {[*head, *keys, *options]}")
    if count and not (_is_int(settings["count"]) and settings["count"] >= 1):
        raise ConfigError(f"graphs.{name}.count: expected an integer >= 1, got {settings['count']!r}")
    for key in options:
        if key in settings:
            _check_option(name, key, settings[key])
    nodes = _node_counts(name, settings["nodes"])
    rules = {k: _rule(name, k, settings[k]) for k in keys[1:] if isinstance(settings[k], Mapping)}
    lists = {k: _choices(name, k, settings[k]) for k in keys[1:] if k not in rules}
    for n in nodes:
        for key, rule in rules.items():
            value = _rule_value(rule, n)
            test, expected = _VALUE_CHECKS.get((name, key)) or _VALUE_CHECKS[(None, key)]
            if not test(value):
                raise ConfigError(f"graphs.{name}.{key}: {_rule_text(rule)}, gives {key}={value} for nodes={n}; "
                                  f"expected {expected}")
        for combination in itertools.product(*lists.values()):
            params = {"nodes": n, **dict(zip(lists, combination, strict=True)),
                      **{k: _rule_value(r, n) for k, r in rules.items()}}
            message = _combination_error(name, params)
            if message:
                key = next(k for k in keys if message.startswith(f"{k}="))
                rule = f" (from {_rule_text(rules[key])})" if key in rules else ""
                raise ConfigError(f"graphs.{name}.{key}: {message}{rule}")


def draw_params(settings: Mapping[str, Any], keys: Sequence[str], rng: random.Random) -> dict[str, Any]:
    """One graph's parameters from checked settings: ``nodes`` first, then the other keys in order; a list draws a
    choice, a range an integer, a rule computes its value from the drawn node count (drawing nothing)."""
    params: dict[str, Any] = {}
    for key in keys:
        setting = settings[key]
        if key == "nodes" and isinstance(setting, Mapping):
            params[key] = rng.randint(setting["min"], setting["max"])
        elif isinstance(setting, Mapping):
            params[key] = _rule_value(next(iter(setting.items())), params["nodes"])
        else:
            params[key] = rng.choice(list(setting))
    return params


def check_generator(name: str) -> None:
    if name not in GENERATOR_NAMES:
        raise ConfigError(f"graphs: unknown generator {name!r}; expected one of {sorted(GENERATOR_NAMES)}")


# --- the graph table ---------------------------------------------------------------------------------------

def unusable_reason(graph: nx.Graph, name: str) -> str | None:
    """Why ``graph`` cannot serve as a structural prior (:func:`layered_dag`'s message), or ``None``."""
    try:
        layered_dag(to_dag(graph), name)
    except GraphError as exc:
        return str(exc)
    return None


def drop_isolated(graph: nx.Graph) -> nx.Graph:
    """``graph`` without its isolated nodes, the others renumbered 0..n'-1 in their order."""
    kept = sorted(n for n in graph if graph.degree(n) > 0)
    index = {node: i for i, node in enumerate(kept)}
    out = nx.Graph()
    out.add_nodes_from(range(len(kept)))
    out.add_edges_from((index[u], index[v]) for u, v in graph.edges())
    return out


def _draw(name: str, params: Mapping[str, Any], seed: int, graph_id: str, isolated: str,
          options: Mapping[str, Any] | None = None) -> nx.Graph:
    build, _ = GENERATORS[name]
    reason = None
    for attempt in range(REDRAWS):
        try:
            graph = build(params, seed if attempt == 0 else derive_seed(seed, "redraw", attempt), **(options or {}))
        except nx.NetworkXError as exc:  # e.g. no connected Watts-Strogatz graph in its tries
            raise GraphError(f"{graph_id}: {name} with {dict(params)}: {exc}") from None
        if isolated == "drop":
            graph = drop_isolated(graph)
        reason = unusable_reason(graph, graph_id)
        if reason is None:
            return graph
    hint = "" if name != "erdos_renyi" else "; use a larger p" + (" or isolated: drop" if isolated == "redraw" else "")
    raise GraphError(f"{reason} (no usable graph in {REDRAWS} draws with {dict(params)}){hint}")


def table_row(graph_id: str, generator: str, seed: int, params: Mapping[str, Any], graph: nx.Graph
              ) -> dict[str, Any]:
    """One row of the graph table; ``graph``'s nodes must be 0..n-1, its edges are oriented lower -> higher."""
    edges = sorted((min(u, v), max(u, v)) for u, v in graph.edges())
    return {
        "graph_id": graph_id,
        "generator": generator,
        "seed": seed,
        "params": json.dumps(dict(params), sort_keys=True),
        "nodes": graph.number_of_nodes(),
        "src": [u for u, _ in edges],
        "dst": [v for _, v in edges],
    }


def generate_graphs(name: str, settings: Mapping[str, Any], global_seed: int) -> pd.DataFrame:
    """The graph table of generator ``name``: ``settings['count']`` random graphs, or the ``files`` graphs.

    Node indices are kept as the generator numbers them; edges are oriented from the lower to the higher index
    (:func:`sparsepipe.graphs.to_dag`). Every graph in the table is usable as a structural prior.
    """
    check_generator(name)
    if name == FILES:
        from sparsepipe.graphs.files import files_table  # files.py builds on this module's table_row

        return files_table(settings, global_seed)
    check_settings(name, settings)
    _, keys = GENERATORS[name]
    isolated = settings.get("isolated", "redraw")
    options = {k: settings.get(k, OPTIONS[name][k][1]) for k in BUILDER_OPTIONS.get(name, ())}
    rows = []
    for index in range(settings["count"]):
        graph_id = f"{name}-{index:04d}"
        seed = derive_seed(global_seed, "graph", name, index)
        params = draw_params(settings, keys, random.Random(seed))
        rows.append(table_row(graph_id, name, seed, params, _draw(name, params, seed, graph_id, isolated, options)))
    return pd.DataFrame(rows, columns=GRAPH_COLUMNS)


def graph_from_row(row: Mapping[str, Any]) -> nx.DiGraph:
    """Rebuild the directed graph of one row of the graph table (every node kept, isolated ones too)."""
    try:
        graph = nx.DiGraph(graph_id=row["graph_id"])
        graph.add_nodes_from(range(int(row["nodes"])))
        graph.add_edges_from(zip(list(row["src"]), list(row["dst"]), strict=True))
    except (KeyError, ValueError, TypeError) as exc:
        raise DataError(f"graph table row {row.get('graph_id', '?')}: malformed ({exc})") from None
    return graph
