from services.store.settings import StoreSettings
from shared.service import run_service

if __name__ == "__main__":
    run_service("store", StoreSettings)
