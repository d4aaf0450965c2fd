from kit.migrations import run_env
from services.task.models import Base

run_env(Base.metadata)
