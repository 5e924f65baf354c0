# The installed package as a driver's own project sees it: install to a fresh prefix, configure
# and build examples/driver against it with nothing but find_package(patchbay), and run it from
# its build directory (the default model must be found from any working directory).
# Inputs: BUILD_DIR, SOURCE_DIR, WORK_DIR, GENERATOR.
file(REMOVE_RECURSE ${WORK_DIR})
function(run what)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err WORKING_DIRECTORY ${WORK_DIR})
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${what} failed (${rc}):\n${out}\n${err}")
  endif()
  set(last_output "${out}" PARENT_SCOPE)
endfunction()
file(MAKE_DIRECTORY ${WORK_DIR})
run("install" ${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${WORK_DIR}/prefix)
foreach(file include/patchbay/model/model.hpp lib/cmake/patchbay/patchbayConfig.cmake lib/cmake/patchbay/patchbayConfigVersion.cmake
             share/patchbay/models/stories260K/model.bin share/patchbay/models/gpt2/vocab.json share/patchbay/models/SHA256SUMS)
  if(NOT EXISTS ${WORK_DIR}/prefix/${file})
    message(FATAL_ERROR "the install lacks ${file}")
  endif()
endforeach()
# The installed CLI finds the installed embedded models (from its own location).
run("listing the installed CLI's models" ${WORK_DIR}/prefix/bin/patchbay models)
file(REAL_PATH ${WORK_DIR}/prefix/share/patchbay/models installed_models)
string(FIND "${last_output}" "${installed_models} [embedded]: gpt2 (tokenizer only), stories260K (llama2c)" found)
if(found EQUAL -1)
  message(FATAL_ERROR "the installed CLI does not list its embedded models in ${installed_models}:\n${last_output}")
endif()
run("configuring the driver" ${CMAKE_COMMAND} -S ${SOURCE_DIR}/examples/driver -B ${WORK_DIR}/driver -G ${GENERATOR}
    -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH=${WORK_DIR}/prefix)
run("building the driver" ${CMAKE_COMMAND} --build ${WORK_DIR}/driver)
execute_process(COMMAND ${WORK_DIR}/driver/my_driver RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err
                WORKING_DIRECTORY ${WORK_DIR}/driver)
if(NOT rc EQUAL 0 OR NOT out MATCHES "probe at layer 3: validation accuracy 0\\.[0-9]+" OR NOT out MATCHES "a[0-9]+\\.h[0-9]+: normalised effect"
   OR NOT out MATCHES "own metric: clean -?[0-9]+\\.[0-9]+, corrupted -?[0-9]+\\.[0-9]+")
  message(FATAL_ERROR "the driver failed (${rc}):\n${out}\n${err}")
endif()
message(STATUS "driver output:\n${out}")
file(REMOVE_RECURSE ${WORK_DIR})
