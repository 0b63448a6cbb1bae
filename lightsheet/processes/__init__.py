"""One module per child process of DESIGN.md: camera, scanner, trigger, dispatcher, saver."""
