"""mgstore's protobuf messages: TensorFlow 2.21's MetaGraphDef family, in a private pool.

The classes here have TensorFlow's full names (``tensorflow.MetaGraphDef``...) and are
wire-compatible with TensorFlow's, so bytes move freely between the two; they live in ``POOL``
rather than protobuf's default pool, so they never clash with TensorFlow's own classes. The
modules under ``mgstore/proto/tensorflow`` and ``mgstore/proto/xla`` are generated from
``protos/`` by ``python -m mgstore.proto.generate``; never edit them by hand.
"""

from __future__ import annotations

from typing import TypeVar

from google.protobuf.message import Message

from mgstore.proto._pool import POOL
from mgstore.proto.tensorflow.core.framework.attr_value_pb2 import AttrValue, NameAttrList
from mgstore.proto.tensorflow.core.framework.full_type_pb2 import FullTypeDef
from mgstore.proto.tensorflow.core.framework.function_pb2 import (
    FunctionDef,
    FunctionDefLibrary,
    GradientDef,
)
from mgstore.proto.tensorflow.core.framework.graph_debug_info_pb2 import GraphDebugInfo
from mgstore.proto.tensorflow.core.framework.graph_pb2 import GraphDef
from mgstore.proto.tensorflow.core.framework.node_def_pb2 import NodeDef
from mgstore.proto.tensorflow.core.framework.op_def_pb2 import OpDef, OpList
from mgstore.proto.tensorflow.core.framework.tensor_pb2 import TensorProto
from mgstore.proto.tensorflow.core.framework.tensor_shape_pb2 import TensorShapeProto
from mgstore.proto.tensorflow.core.framework.types_pb2 import DataType
from mgstore.proto.tensorflow.core.framework.variable_pb2 import SaveSliceInfoDef, VariableDef
from mgstore.proto.tensorflow.core.framework.versions_pb2 import VersionDef
from mgstore.proto.tensorflow.core.protobuf.control_flow_pb2 import (
    CondContextDef,
    ControlFlowContextDef,
    ValuesDef,
    WhileContextDef,
)
from mgstore.proto.tensorflow.core.protobuf.meta_graph_pb2 import (
    AssetFileDef,
    CollectionDef,
    MetaGraphDef,
    SignatureDef,
    TensorInfo,
)
from mgstore.proto.tensorflow.core.protobuf.queue_runner_pb2 import QueueRunnerDef
from mgstore.proto.tensorflow.core.protobuf.saved_model_pb2 import SavedModel
from mgstore.proto.tensorflow.core.protobuf.saved_object_graph_pb2 import SavedObjectGraph
from mgstore.proto.tensorflow.core.protobuf.saver_pb2 import SaverDef

__all__ = [
    "POOL",
    "AssetFileDef",
    "AttrValue",
    "CollectionDef",
    "CondContextDef",
    "ControlFlowContextDef",
    "DataType",
    "FullTypeDef",
    "FunctionDef",
    "FunctionDefLibrary",
    "GradientDef",
    "GraphDebugInfo",
    "GraphDef",
    "MetaGraphDef",
    "NameAttrList",
    "NodeDef",
    "OpDef",
    "OpList",
    "QueueRunnerDef",
    "SaveSliceInfoDef",
    "SavedModel",
    "SavedObjectGraph",
    "SaverDef",
    "SignatureDef",
    "TensorInfo",
    "TensorProto",
    "TensorShapeProto",
    "ValuesDef",
    "VariableDef",
    "VersionDef",
    "WhileContextDef",
    "copy_of",
]

_M = TypeVar("_M", bound=Message)


def copy_of(message: _M) -> _M:
    """A new message of ``message``'s class holding a copy of its fields."""
    out: _M = type(message)()
    out.CopyFrom(message)
    return out
