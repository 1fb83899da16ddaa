"""scripts/differential.py, the batch protocol's driver of python-diskcache, run on
diskcache_redb instead: the same requests on standard input, one reply a line.

    python3 python/differential_driver.py DIR < requests.jsonl

Feeding one request stream to this and to `python3 scripts/differential.py DIR2` and
comparing the replies line by line runs this module against python-diskcache.
"""

import os
import runpy
import sys

import diskcache_redb

sys.modules['diskcache'] = diskcache_redb
here = os.path.dirname(os.path.abspath(__file__))
runpy.run_path(os.path.join(here, '..', 'scripts', 'differential.py'), run_name='__main__')
