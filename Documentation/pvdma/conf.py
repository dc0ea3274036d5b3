# SPDX-License-Identifier: GPL-2.0-only
# Sphinx configuration of the PVDMA documentation (make docs).
#
# The ABI reference is rendered from the kernel-doc of
# include/uapi/linux/pvdma.h with the kernel's own kernel-doc extension and
# script, from linux-source-6.12: scripts/build-docs.sh passes their tree
# in PVDMA_KSRC.
import os
import sys

ksrc = os.environ.get('PVDMA_KSRC')
if not ksrc:
    sys.exit('PVDMA_KSRC is not set: run "make docs"')
sys.path.insert(0, os.path.join(ksrc, 'Documentation', 'sphinx'))

project = 'PVDMA'
copyright = 'The PVDMA authors'
master_doc = 'index'
extensions = ['kerneldoc']
kerneldoc_bin = os.path.join(ksrc, 'scripts', 'kernel-doc')
kerneldoc_srctree = os.path.abspath(os.path.join(os.path.dirname(__file__),
                                                 '..', '..'))
# The C domain: kernel-doc emits C declarations.
primary_domain = 'c'
highlight_language = 'none'
html_theme = 'alabaster'
exclude_patterns = []
