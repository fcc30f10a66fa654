"""edgetpu_compiler output quoted from public threads, for the log parser's tests (no compiler runs here).

Each is the compiler's own text as posted, from its first line to the last complete line of the quote; where a
thread's excerpt ends inside the operator table, the table stops there. Sources are named beside each.
"""

# v16, -s, every operation mapped: the operator table but no "Number of operations that will run" lines.
# WongKinYiu/yolov7 pull request #1672 (https://github.com/WongKinYiu/yolov7/pull/1672), yolov7-tiny export log.
V16_FULLY_MAPPED = """Edge TPU Compiler version 16.0.384591198
Searching for valid delegate with step 10
Try to compile segment with 246 ops
Started a compilation timeout timer of 180 seconds.

Model compiled successfully in 3133 ms.

Input model: runs/train/exp8/weights/best-int8.tflite
Input size: 6.00MiB
Output model: runs/train/exp8/weights/best-int8_edgetpu.tflite
Output size: 6.47MiB
On-chip memory used for caching model parameters: 5.90MiB
On-chip memory remaining for caching model parameters: 1.16MiB
Off-chip memory used for streaming uncached model parameters: 41.75KiB
Number of Edge TPU subgraphs: 1
Total number of operations: 246
Operation log: runs/train/exp8/weights/best-int8_edgetpu.log

Operator                       Count      Status

ADD                            3          Mapped to Edge TPU
RESHAPE                        6          Mapped to Edge TPU
MAX_POOL_2D                    4          Mapped to Edge TPU
CONCATENATION                  18         Mapped to Edge TPU
PAD                            4          Mapped to Edge TPU
LOGISTIC                       64         Mapped to Edge TPU
RESIZE_NEAREST_NEIGHBOR        2          Mapped to Edge TPU
QUANTIZE                       5          Mapped to Edge TPU
"""

# v16 with -n 2 (segmenting): one block per segment; this is segment 0's.
# google-coral/edgetpu issue #671 (https://github.com/google-coral/edgetpu/issues/671), EfficientDet-Lite3.
V16_SEGMENT = """Edge TPU Compiler version 16.0.384591198
Searching for valid delegate with step 10
Try to compile segment with 84 ops
Started a compilation timeout timer of 180 seconds.

Model compiled successfully in 2270 ms.

Input model: rede_modelo3_73_segment_0_of_2.tflite
Input size: 5.21MiB
Output model: rede_modelo3_73_segment_0_of_2_edgetpu.tflite
Output size: 6.51MiB
On-chip memory used for caching model parameters: 6.02MiB
On-chip memory remaining for caching model parameters: 1.02MiB
Off-chip memory used for streaming uncached model parameters: 0.00B
Number of Edge TPU subgraphs: 1
Total number of operations: 84
Operation log: rede_modelo3_73_segment_0_of_2_edgetpu.log

Operator                       Count      Status
"""

# v16, -s -a, a failed compile.
# google-coral/edgetpu issue #512 (https://github.com/google-coral/edgetpu/issues/512), yolov5s at 352.
V16_FAILED = """Edge TPU Compiler version 16.0.384591198
Started a compilation timeout timer of 180 seconds.
ERROR: Restored original execution plan after delegate application failure.
Compilation failed: Compilation failed due to large activation tensors in model.
Compilation child process completed within timeout period.
Compilation failed!
"""

# v15 without -s, partly mapped: the counts, no table (it is in the .log file, whose own header follows).
# google-coral/edgetpu issue #393 (https://github.com/google-coral/edgetpu/issues/393).
V15_PARTIAL = """Edge TPU Compiler version 15.0.340273435

Model compiled successfully in 2644 ms.

Input model: model.tflite
Input size: 4.22MiB
Output model: ./EdgeTPU/model_edgetpu.tflite
Output size: 4.71MiB
On-chip memory used for caching model parameters: 3.21MiB
On-chip memory remaining for caching model parameters: 3.78MiB
Off-chip memory used for streaming uncached model parameters: 0.00B
Number of Edge TPU subgraphs: 1
Total number of operations: 165
Operation log: ./EdgeTPU/model_edgetpu.log

Model successfully compiled but not all operations are supported by the Edge TPU. A percentage of the model will instead run on the CPU, which is slower. If possible, consider updating your model to use only operations supported by the Edge TPU. For details, visit g.co/coral/model-reqs.
Number of operations that will run on Edge TPU: 117
Number of operations that will run on CPU: 48
See the operation log file for individual operation details.
"""
V15_OPERATION_LOG_HEADER = """Edge TPU Compiler version 15.0.340273435
Input: model.tflite
Output: ./EdgeTPU/model_edgetpu.tflite
"""

# v14, -s, nothing mapped: counts and a complete table with two CPU statuses.
# google-coral/edgetpu issue #219 (https://github.com/google-coral/edgetpu/issues/219); the thread gives the
# version (14.1.317412892) outside the quoted output, which starts at the warning.
V14_NOTHING_MAPPED = """Model successfully compiled but not all operations are supported by the Edge TPU. A percentage of the model will instead run on the CPU, which is slower. If possible, consider updating your model to use only operations supported by the Edge TPU. For details, visit g.co/coral/model-reqs.
Number of operations that will run on Edge TPU: 0
Number of operations that will run on CPU: 2

Operator                       Count      Status

MUL                            1          Operation is otherwise supported, but not mapped due to some unspecified limitation
SPLIT                          1          Operation is otherwise supported, but not mapped due to some unspecified limitation
"""

# v2.1, -s, partly mapped, one operator split between the TPU and the CPU.
# google-coral/edgetpu issue #60 (https://github.com/google-coral/edgetpu/issues/60).
V2_PARTIAL = """Edge TPU Compiler version 2.1.302470888

Model compiled successfully in 12264 ms.

Input model: model2.tflite
Input size: 8.11MiB
Output model: model2_edgetpu.tflite
Output size: 9.47MiB
On-chip memory used for caching model parameters: 6.86MiB
On-chip memory remaining for caching model parameters: 7.75KiB
Off-chip memory used for streaming uncached model parameters: 1.22MiB
Number of Edge TPU subgraphs: 1
Total number of operations: 93
Operation log: model2_edgetpu.log

Model successfully compiled but not all operations are supported by the Edge TPU. A percentage of the model will instead run on the CPU, which is slower. If possible, consider updating your model to use only operations supported by the Edge TPU. For details, visit g.co/coral/model-reqs.
Number of operations that will run on Edge TPU: 83
Number of operations that will run on CPU: 10

Operator                       Count      Status

LOGISTIC                       1          More than one subgraph is not supported
ADD                            10         Mapped to Edge TPU
CONCATENATION                  1          More than one subgraph is not supported
CONCATENATION                  3          Mapped to Edge TPU
"""
