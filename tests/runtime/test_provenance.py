"""Tests for gitjax.runtime.provenance: what data and code made a run."""
import json

import ml_collections
import pytest

from gitjax import config_base
from gitjax import errors
from gitjax.runtime import provenance


def _config(path):
  config = config_base.get_base('dataset')
  config.data.source = 'npz'
  config.data.path = str(path)
  return config


def test_records_data_hash_code_and_libraries_and_refuses_changed_data(
    tmp_path):
  data = tmp_path / 'd.npz'
  data.write_bytes(b'abc')
  run = tmp_path / 'run'
  run.mkdir()
  provenance.write(str(run), _config(data), resumed=False)
  record = json.loads((run / 'provenance.json').read_text())
  assert record['data'] == {
      'kind': 'file', 'path': str(data), 'bytes': 3, 'sha256':
      'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad'}
  assert record['code']['gitjax'] and record['code']['libraries']['flax']
  provenance.write(str(run), _config(data), resumed=True)  # same data
  data.write_bytes(b'abd')
  with pytest.raises(errors.WorkdirError, match='changed since this run') as e:
    provenance.write(str(run), _config(data), resumed=True)
  assert '\n' not in str(e.value)
  lines = provenance.provenance_markdown(str(run))
  assert any('sha256 `ba7816bf8f01cfea`' in l for l in lines)
  assert any(l.startswith('- code: gitjax ') and 'jax ' in l for l in lines)


def test_relative_data_path_is_made_absolute(tmp_path, monkeypatch):
  monkeypatch.chdir(tmp_path)
  config = ml_collections.ConfigDict({'data': {'path': 'd.npz'}})
  provenance.resolve_data_path(config)
  assert config.data.path == str(tmp_path / 'd.npz')


def test_embedded_and_tfds_data_and_a_run_without_provenance(tmp_path):
  digits = config_base.get_base('dataset')
  assert provenance.data_record(digits.data)['kind'] == 'embedded'
  assert provenance.provenance_markdown(str(tmp_path)) == []
