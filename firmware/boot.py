# Runs first on every reset. Kept tiny so that nothing here can fail;
# the application starts from main.py.
import micropython

# Lets an exception raised in a scheduled tick report itself even when the heap is full.
if hasattr(micropython, "alloc_emergency_exception_buf"):
    micropython.alloc_emergency_exception_buf(100)
