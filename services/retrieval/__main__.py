from services.retrieval.settings import RetrievalSettings
from shared.service import run_service

if __name__ == "__main__":
    run_service("retrieval", RetrievalSettings)
