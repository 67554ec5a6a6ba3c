"""The command-line tools: nst-tf and nst-tf-export (`paint`), nst-tf-train
(`train`) and nst-tf-beam (`beam`), with the flags they share (`command`)."""
