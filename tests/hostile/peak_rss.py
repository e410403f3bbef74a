"""peak_rss.py RSS_FILE COMMAND... — runs COMMAND, writes the peak RSS (KB) of its process tree to RSS_FILE, and
exits with the command's status (128 + N for a signal N), for the hostile suites' memory checks."""
import resource
import subprocess
import sys

rc = subprocess.call(sys.argv[2:])
with open(sys.argv[1], "w") as f:
    f.write("%d\n" % resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
sys.exit(rc if rc >= 0 else 128 - rc)
