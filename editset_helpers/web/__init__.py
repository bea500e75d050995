"""The edit-set visualizer: a local Flask site to look at edit sets before and after a repair.

``catalog`` finds and decodes sets, ``sets`` turns one into display rows, ``models`` runs the
base and repaired models over a set once, ``analysis`` and ``queries`` derive what the pages
show, ``charts`` and ``thumbnails`` draw PNGs on the server (the machines are offline: no CDN,
no external JavaScript), ``app`` wires it into Flask and ``server`` runs it.
"""
