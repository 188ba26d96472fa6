"""Benchmarks of corral against llama.cpp's own llama-server and llama-bench (see README.md)."""
