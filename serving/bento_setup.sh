#!/bin/sh
# Runs in the Bento image before requirements.lock is installed: the CPU build of torch, which the lock
# leaves out on purpose (as the Makefile does).
set -e
pip install --no-cache-dir "torch==2.13.0" --index-url https://download.pytorch.org/whl/cpu
