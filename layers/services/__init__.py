"""Needs and services (服务需求清单 / 服务项目清单): the catalogue and list parsing (issue 15)."""
