"""LangChain's own standard test suite (``langchain-tests``) run against OmniEmbedEmbeddings, in-process and
over a real ``omniembed serve``: what every LangChain embeddings integration is expected to pass. In-process
runs the real model; the server runs the dummy profile (the suite checks shapes and types, not quality)."""

from __future__ import annotations

import pytest
from langchain_tests.integration_tests import EmbeddingsIntegrationTests
from langchain_tests.unit_tests import EmbeddingsUnitTests

from omniembed.integrations.langchain import OmniEmbedEmbeddings

from server_harness import ServerProcess

KEY = "lc-standard-key"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with ServerProcess(tmp_path_factory.mktemp("lc-std"), "--api-key", KEY, dummy=True) as srv:
        yield srv


class TestInProcessUnit(EmbeddingsUnitTests):
    @property
    def embeddings_class(self) -> type[OmniEmbedEmbeddings]:
        return OmniEmbedEmbeddings

    @property
    def init_from_env_params(self) -> tuple[dict, dict, dict]:
        # the key lives on the model itself (a SecretStr read from the environment), as in LangChain's
        # own integrations
        return ({"OMNIEMBED_API_KEY": "from-env"}, {"base_url": "http://127.0.0.1:9"},
                {"api_key": "from-env", "base_url": "http://127.0.0.1:9", "model": "omniembed-lite"})


class TestInProcessIntegration(EmbeddingsIntegrationTests):
    @property
    def embeddings_class(self) -> type[OmniEmbedEmbeddings]:
        return OmniEmbedEmbeddings


class TestServerIntegration(EmbeddingsIntegrationTests):
    @pytest.fixture
    def model(self, server) -> OmniEmbedEmbeddings:  # the suite's fixture, pointed at the real server
        return OmniEmbedEmbeddings(base_url=server.url, api_key=KEY, output_dimensionality=256)

    @property
    def embeddings_class(self) -> type[OmniEmbedEmbeddings]:
        return OmniEmbedEmbeddings


def test_pydantic_fields_and_secret_key(server):
    lc = OmniEmbedEmbeddings(base_url=server.url, api_key=KEY, query_task_type="retrieval_query")
    assert KEY not in repr(lc) and lc.api_key.get_secret_value() == KEY
    assert lc.query_task_type.value == "RETRIEVAL_QUERY" and lc.model == "omniembed-lite"
    assert "api_key" not in lc.backend.config()
    with pytest.raises(Exception):
        OmniEmbedEmbeddings(no_such_option=1)  # extra="forbid", like LangChain's integrations
