# Shortcuts; scripts/test.sh is the one test command.
.PHONY: wheel test-wheel test

# The portable wheel (manylinux2014, abi3: CPython >= 3.10) and the sdist,
# checked by auditwheel and abi3audit, into target/wheelhouse/.
wheel:
	bash scripts/build-wheel.sh target/wheelhouse

# Install them into fresh virtualenvs without cargo or cc and run the tests.
test-wheel: wheel
	bash scripts/test-wheel.sh target/wheelhouse

test:
	bash scripts/test.sh
