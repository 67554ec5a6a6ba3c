"""The shared core: settings, images and colours, VGG16 features, the losses and
the objective that every loop uses, the model format and the progress monitors."""
