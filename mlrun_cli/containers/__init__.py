"""Running a `docker_env` project's command in a container of its image.

`engine` finds docker or podman and turns its failures into one line; `image` inspects the
project's image (id, digest) and builds the derived image with the project copied in;
`command` writes the `docker run` command line. The run flow (`run.launch`) launches it
under the same supervision and with the same recorder as a local command.
"""
