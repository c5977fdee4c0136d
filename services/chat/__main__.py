from services.chat.settings import ChatSettings
from shared.service import run_service

if __name__ == "__main__":
    run_service("chat", ChatSettings)
