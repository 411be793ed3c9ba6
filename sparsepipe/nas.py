"""Genetic architecture search over sparse structures, guided by a structure-only performance predictor.

- Genome: a DAG (node count + edges oriented lower -> higher index), born from a random-graph generator and then
  mutated; decoded into a graph-structured network (feed-forward on images, recurrent on Reber).
- Variation: mutations (add / remove / rewire an edge, add / remove a node, redraw from the generator with new
  parameters) and one-point crossover on node indices (edges taken by their target node); graphs are repaired
  (isolated nodes dropped) so every offspring is a valid structural prior.
- Selection: tournaments over the current population, elites carried over unchanged. Everything is seeded per
  generation from the search seed, so a resumed search continues exactly as an uninterrupted one.
- Fitness: validation accuracy after a short training. With the predictor on, a regressor (``predictor_model``)
  fitted on the structural features of every individual trained so far (refitted every generation) screens
  ``screen_factor`` times more candidates than are trained, and only the most promising are trained; with
  ``screen_rounds`` > 1 the most promising candidates are mutated and screened again, so that one generation can
  follow the predictor several mutations away from its parents before a single training is spent. Bayesian ridge
  is the default: early generations give it a dozen individuals, and a linear model extrapolates a trend (more
  input units, wider layers) beyond them, where a random forest cannot rank past the best it has seen
  (bench/nas_predictor.py compares them).
- Every individual, trained or screened out, is a row of the search table; the search writes the table after each
  generation (atomically) and resumes from it.
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import networkx as nx
import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from sparsepipe.errors import ConfigError, GraphError
from sparsepipe.features import graph_features
from sparsepipe.graphs.generators import GENERATORS, drop_isolated
from sparsepipe.graphs.generators import check_settings as check_generator_settings
from sparsepipe.graphs.layering import layered_dag, to_dag
from sparsepipe.predict import REGRESSORS, regressor
from sparsepipe.seeds import derive_seed

log = logging.getLogger(__name__)

GENOME_DRAWS = 1000  # draws of an initial or regenerated genome before giving up on the generators' choices
MUTATIONS = ("add_edge", "remove_edge", "rewire_edge", "add_node", "remove_node", "regenerate")


@dataclass(frozen=True)
class Genome:
    """A structural prior: ``nodes`` nodes 0..n-1, ``edges`` (u < v), and the generator it descends from."""

    nodes: int
    edges: tuple[tuple[int, int], ...]
    generator: str
    params: str  # JSON of the generator's parameters at birth or last regeneration

    def dag(self) -> nx.DiGraph:
        dag = nx.DiGraph()
        dag.add_nodes_from(range(self.nodes))
        dag.add_edges_from(self.edges)
        return dag

    def to_json(self) -> str:
        return json.dumps({"nodes": self.nodes, "edges": self.edges, "generator": self.generator,
                           "params": json.loads(self.params)})

    @staticmethod
    def from_json(text: str) -> Genome:
        g = json.loads(text)
        return Genome(g["nodes"], tuple(tuple(e) for e in g["edges"]), g["generator"], json.dumps(g["params"]))


def check_settings(settings: Mapping[str, Any]) -> None:
    """Cross-key checks the schema cannot express."""
    if settings["population"] <= settings["elites"]:
        raise ConfigError(f"nas.population: {settings['population']} must exceed nas.elites "
                          f"({settings['elites']}), or no offspring is ever trained")
    if settings["generations"] < 1:
        raise ConfigError("nas.generations: must be at least 1")
    for key in ("mutation_rate", "crossover_rate"):
        if not 0 <= settings[key] <= 1:
            raise ConfigError(f"nas.{key}: {settings[key]} is outside [0, 1]")
    if settings["predictor_model"] not in REGRESSORS:
        raise ConfigError(f"nas.predictor_model: unknown regressor {settings['predictor_model']!r}; expected one of "
                          f"{list(REGRESSORS)}")
    if settings["tournament"] > settings["population"]:
        raise ConfigError(f"nas.tournament: {settings['tournament']} exceeds nas.population")
    for name, choices in settings["generators"].items():
        if name not in GENERATORS:
            raise ConfigError(f"nas.generators: unknown generator {name!r}; expected some of {sorted(GENERATORS)}")
        check_choices(name, choices)


def check_choices(name: str, choices: Any) -> None:
    """``nas.generators.<name>`` checked as ``graphs.<name>`` is (every choice and combination), without ``count``."""
    if isinstance(choices, Mapping) and "count" in choices:
        raise ConfigError(f"nas.generators.{name}.count: not a setting of the search (its population sets the "
                          f"number of graphs); remove it")
    for key, value in (choices.items() if isinstance(choices, Mapping) else ()):
        if isinstance(value, Mapping):
            raise ConfigError(f"nas.generators.{name}.{key}: expected a list of choices, got {dict(value)}; ranges "
                              f"and rules of the node count are for graphs only (the search mutates node counts)")
    try:
        check_generator_settings(name, {**choices, "count": 1} if isinstance(choices, Mapping) else choices)
    except ConfigError as exc:
        raise ConfigError(str(exc).replace("graphs.", "nas.generators.", 1).replace("['count', ", "[")) from None


def _repaired(dag: nx.DiGraph, generator: str, params: str) -> Genome | None:
    graph = drop_isolated(dag.to_undirected())
    if graph.number_of_nodes() < 2 or graph.number_of_edges() == 0:
        return None
    edges = tuple(sorted((min(u, v), max(u, v)) for u, v in graph.edges()))
    return Genome(graph.number_of_nodes(), edges, generator, params)


def random_genome(rng: random.Random, choices: Mapping[str, Mapping[str, Any]]) -> Genome:
    """A graph from one of the configured generators with parameters drawn from its choices."""
    for _ in range(GENOME_DRAWS):
        name = rng.choice(sorted(choices))
        build, keys = GENERATORS[name]
        params = {k: rng.choice(list(choices[name][k])) for k in keys}
        try:
            graph = build(params, rng.randrange(2**31))
        except ConfigError:
            continue
        genome = _repaired(to_dag(graph), name, json.dumps(params, sort_keys=True))
        if genome is not None:
            return genome
    raise GraphError(f"nas.generators {sorted(choices)}: no usable graph (an edge, no isolated node) in {GENOME_DRAWS} "
                     f"draws; choose more nodes or denser parameters")


def mutate(genome: Genome, rng: random.Random, rate: float, choices: Mapping[str, Mapping[str, Any]]) -> Genome:
    """Apply each mutation with probability ``rate`` (at least one); returns a valid genome."""
    chosen = [m for m in MUTATIONS if rng.random() < rate] or [rng.choice(MUTATIONS)]
    if "regenerate" in chosen and genome.generator in choices:
        return random_genome(random.Random(rng.random()), {genome.generator: choices[genome.generator]})
    dag = genome.dag()
    for mutation in chosen:
        nodes = list(dag.nodes())
        edges = list(dag.edges())
        absent = [(u, v) for u in nodes for v in nodes if u < v and not dag.has_edge(u, v)]
        if mutation in ("remove_edge", "rewire_edge") and len(edges) > 1:
            dag.remove_edge(*rng.choice(edges))
        if mutation in ("add_edge", "rewire_edge") and absent:
            dag.add_edge(*rng.choice(absent))
        if mutation == "add_node":  # a new sink (highest index) or a new source (index 0, the others shift up)
            picked = rng.sample(nodes, min(len(nodes), rng.randint(1, 2)))
            if rng.random() < 0.5:
                dag.add_edges_from((parent, max(nodes) + 1) for parent in picked)
            else:
                dag = nx.relabel_nodes(dag, {n: n + 1 for n in nodes})
                dag.add_edges_from((0, child + 1) for child in picked)
        if mutation == "remove_node" and len(nodes) > 3:
            dag.remove_node(rng.choice(nodes))
    dag = nx.convert_node_labels_to_integers(dag, ordering="sorted")
    return _repaired(dag, genome.generator, genome.params) or genome


def crossover(a: Genome, b: Genome, rng: random.Random) -> Genome:
    """One-point crossover on node indices: edges into nodes below the cut from ``a``, the others from ``b``."""
    nodes = max(a.nodes, b.nodes)
    cut = rng.randint(1, nodes - 1)
    dag = nx.DiGraph()
    dag.add_nodes_from(range(nodes))
    dag.add_edges_from(e for e in a.edges if e[1] < cut)
    dag.add_edges_from(e for e in b.edges if e[1] >= cut)
    return _repaired(dag, a.generator, a.params) or a


def tournament(population: list[dict[str, Any]], size: int, rng: random.Random) -> dict[str, Any]:
    return max(rng.sample(population, size), key=lambda ind: ind["measured"])


def features_of(genome: Genome) -> dict[str, float]:
    return graph_features(genome.dag(), "candidate")


Evaluate = Callable[[list[Genome], list[int]], list[float]]


def search(settings: Mapping[str, Any], choices: Mapping[str, Mapping[str, Any]], evaluate: Evaluate, seed: int,
           history: pd.DataFrame | None = None, on_generation: Callable[[pd.DataFrame], None] | None = None
           ) -> pd.DataFrame:
    """Run (or resume from ``history``) the search; returns the table of every individual.

    ``evaluate(genomes, seeds)`` trains each genome's network with its seed and returns validation accuracies.
    ``on_generation(table)`` is called after each generation (to write it).
    """
    check_settings(settings)
    rows: list[dict[str, Any]] = [] if history is None else history.to_dict("records")
    done = max((r["generation"] for r in rows), default=-1)
    uses_predictor = settings["predictor"]
    offspring = settings["population"] - settings["elites"]
    for generation in range(done + 1, settings["generations"] + 1):
        rng = random.Random(derive_seed(seed, "nas", generation))
        trained = [r for r in rows if r["trained"]]
        population = [r for r in rows if r["generation"] == generation - 1 and r["in_population"]]
        if generation == 0:
            candidates = [(random_genome(rng, choices), "", "") for _ in range(settings["population"])]
            to_train = len(candidates)
        else:
            count = offspring * (settings["screen_factor"] if uses_predictor else 1)
            candidates = []
            for _ in range(count):
                mother = tournament(population, settings["tournament"], rng)
                child, parents = Genome.from_json(mother["genome"]), [mother["individual"]]
                if rng.random() < settings["crossover_rate"]:
                    father = tournament(population, settings["tournament"], rng)
                    child = crossover(child, Genome.from_json(father["genome"]), rng)
                    parents.append(father["individual"])
                child = mutate(child, rng, settings["mutation_rate"], choices)
                candidates.append((child, ",".join(parents), ""))
            to_train = offspring
        features = [features_of(g) for g, _, _ in candidates]
        predicted = [float("nan")] * len(candidates)
        order = list(range(len(candidates)))
        if uses_predictor and generation > 0:
            model = _fit_predictor(trained, settings["predictor_model"], seed)
            predicted = list(model.predict(_matrix(features, model.feature_names_)))
            for _ in range(settings["screen_rounds"] - 1):  # mutate the most promising again, screen again
                promising = _distinct_best(candidates, predicted, offspring)
                more = [(mutate(candidates[i][0], rng, settings["mutation_rate"], choices), candidates[i][1], "")
                        for _ in range(settings["screen_factor"]) for i in promising]
                more_features = [features_of(g) for g, _, _ in more]
                predicted += list(model.predict(_matrix(more_features, model.feature_names_)))
                candidates += more
                features += more_features
            order = _distinct_best(candidates, predicted, len(candidates))
        chosen = set(order[:to_train])
        genomes = [candidates[i][0] for i in sorted(chosen)]
        seeds = [derive_seed(seed, "nas-train", generation, i) for i in sorted(chosen)]
        accuracies = dict(zip(sorted(chosen), evaluate(genomes, seeds), strict=True))
        new_rows = []
        for i, ((genome, parents, _), feats) in enumerate(zip(candidates, features, strict=True)):
            new_rows.append({"generation": generation, "individual": f"g{generation:03d}-{i:03d}", "parents": parents,
                             "genome": genome.to_json(), "generator": genome.generator, "predicted": predicted[i],
                             "measured": accuracies.get(i, float("nan")), "trained": i in chosen,
                             "in_population": False, "elite": False} | feats)
        if generation > 0:
            elites = sorted(population, key=lambda r: -r["measured"])[: settings["elites"]]
            survivors = [dict(r, generation=generation, elite=True, trained=False, predicted=float("nan"))
                         for r in elites]
            new_rows = survivors + new_rows
        for row in new_rows:
            row["in_population"] = row["elite"] or row["trained"]
        rows.extend(new_rows)
        table = pd.DataFrame(rows)
        best = table[table["trained"]]["measured"].max()
        log.info("generation %d: %d trained, best validation accuracy so far %.4f", generation,
                 int(table["trained"].sum()), best)
        if on_generation is not None:
            on_generation(table)
    return pd.DataFrame(rows)


def _distinct_best(candidates: list[tuple[Genome, str, str]], predicted: list[float], count: int) -> list[int]:
    """Indices of up to ``count`` candidates with the highest predictions, a genome's duplicates ranked last
    (training the same structure twice would spend a training on a second opinion, not on the search)."""
    seen: set[tuple[int, tuple[tuple[int, int], ...]]] = set()
    first, repeats = [], []
    for i in sorted(range(len(candidates)), key=lambda i: -predicted[i]):
        key = (candidates[i][0].nodes, candidates[i][0].edges)
        (repeats if key in seen else first).append(i)
        seen.add(key)
    return (first + repeats)[:count]


def _matrix(features: list[dict[str, float]], names: list[str]) -> np.ndarray:
    return np.array([[f.get(n, 0.0) for n in names] for f in features], dtype=float)


def _fit_predictor(trained: list[dict[str, Any]], name: str, seed: int) -> Pipeline:
    """``name``'s regressor (:func:`sparsepipe.predict.regressor`: scaled features) on the structural features
    of every individual trained so far."""
    names = sorted(k for k in trained[0] if k not in _NON_FEATURES and isinstance(trained[0][k], (int, float)))
    model = regressor(name, seed % (2**31))
    model.fit(_matrix(trained, names), [r["measured"] for r in trained])
    model.feature_names_ = names
    return model


_NON_FEATURES = {"generation", "individual", "parents", "genome", "generator", "predicted", "measured", "trained",
                 "in_population", "elite"}


def best_genome(table: pd.DataFrame) -> Genome:
    trained = table[table["trained"]]
    return Genome.from_json(trained.loc[trained["measured"].idxmax(), "genome"])


def best_so_far(table: pd.DataFrame) -> np.ndarray:
    """The search's best validation accuracy after each of its trainings, in training order."""
    return table[table["trained"]]["measured"].cummax().to_numpy()


def trainings_to_reach(table: pd.DataFrame, accuracy: float) -> int | None:
    """How many trainings the search needed until its best reached ``accuracy`` (None if it never did)."""
    return first_reaching(best_so_far(table), accuracy)


def first_reaching(curve: np.ndarray, accuracy: float) -> int | None:
    """How many trainings a best-so-far ``curve`` needs to reach ``accuracy`` (None if it never does)."""
    reached = np.flatnonzero(curve >= accuracy)
    return int(reached[0]) + 1 if len(reached) else None


def layered(genome: Genome):
    return layered_dag(genome.dag(), "candidate")
