"""The private descriptor pool that holds mgstore's copies of TensorFlow's protos.

TensorFlow registers the same message names (``tensorflow.MetaGraphDef``...) in protobuf's default
pool, where a second definition is refused. Keeping ours in a pool of their own lets ``import
tensorflow`` and ``import mgstore`` share a process in either order, while the full names, Any type
URLs and text output stay exactly TensorFlow's.
"""

from __future__ import annotations

from google.protobuf import any_pb2, descriptor_pool, wrappers_pb2

POOL = descriptor_pool.DescriptorPool()
for _wkt in (any_pb2, wrappers_pb2):
    POOL.AddSerializedFile(_wkt.DESCRIPTOR.serialized_pb)
