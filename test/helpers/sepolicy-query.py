#!/usr/bin/python3
"""Answers rule queries against a compiled SELinux policy with setools, loading it once.

Reads JSON from standard input: {"policy": PATH, "queries": [{"ruletype": "allow",
"source": T, "target": T, "tclass": C, "perms": [P...]}, ...]} (every key but ruletype
optional) and prints a JSON list: for each query, the matching rules as sesearch writes them.
Attributes count (a rule for "domain" matches a type in it), as sesearch's default.
"""
import json
import sys

import setools

request = json.load(sys.stdin)
policy = setools.SELinuxPolicy(request["policy"])
answers = []
for query in request["queries"]:
    arguments = {"ruletype": [query["ruletype"]]}
    for key in ("source", "target"):
        if key in query:
            arguments[key] = query[key]
    if "tclass" in query:
        arguments["tclass"] = [query["tclass"]]
    if "perms" in query:
        arguments["perms"] = query["perms"]
    answers.append(sorted(str(rule) for rule in setools.TERuleQuery(policy, **arguments).results()))
json.dump(answers, sys.stdout)
