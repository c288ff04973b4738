// Package frontend turns a Dockerfile into a build graph.
//
// Parse reads a Dockerfile with BuildKit's parser, instructions and shell
// packages, splits it into stages, resolves ARG and ENV exactly as BuildKit
// does, and lowers every filesystem instruction of the stages the target
// needs to a dag.Vertex: FROM to a *dag.Source, COPY and ADD to a
// *dag.Copy, RUN to a *dag.Run and WORKDIR to a *dag.Mkdir. Each vertex's
// Inputs[0] is the previous step of its stage; COPY --from and RUN
// --mount from= add the other stage's (or image's) last vertex as a further
// input. A stage built FROM an earlier stage continues that stage's chain:
// the same vertices, the same config.
//
// Instructions that only change the image config (ENV, LABEL, CMD, ...)
// produce no vertex; they change Result.Config and add a history entry, as
// BuildKit does. Stages the target does not need are never lowered and
// their base images are never resolved.
//
// Where BuildKit and buildah differ, the frontend does what BuildKit does
// (see DESIGN.md): an ARG declared after an ENV of the same name wins inside
// RUN, EXPOSE 8000-8002 records three ports, every WORKDIR creates its
// directory in its own step, HEALTHCHECK, ONBUILD and SHELL go to the
// config, ONBUILD triggers of a base run in the child stage, and heredocs
// work in RUN, COPY and ADD.
//
// LoadIgnore reads the .dockerignore of a build context (BuildKit's rule:
// <Dockerfile>.dockerignore next to the Dockerfile first).
//
// Key types: Options (what Parse is given: build args, target, platforms,
// Limits, and Resolve, which gives an Image for a base reference), Result
// (the target's vertex, base, config and history Steps), Ignore, and the
// errors Error and LimitError.
//
// Errors locate the failure: a *Error carries the Dockerfile name, the line
// and the instruction, and prints as
//
//	Dockerfile:7: COPY: cannot copy from stage "build", it needs to be defined before current stage "stage-0"
package frontend
