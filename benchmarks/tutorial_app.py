"""The seed tutorial's chat service as the tutorial writes it, for benchmarks/web_tutorial.py.

    python benchmarks/tutorial_app.py PORT DATABASE_FILE

FastAPI; passwords hashed with bcrypt directly (the tutorial's passlib bcrypt handler fails
on bcrypt 5); JWT bearer tokens from POST /token (python-jose when installed, else PyJWT,
which has the same encode/decode calls: the table says which); a synchronous SQLAlchemy
session (the tutorial's `SessionLocal` and `get_db`) used inside the async `/chat` endpoint;
SQLite; the last 10 messages of the conversation read on every request. The echo answer
stands in for the model, as chatlink's echo provider does on the other side.
"""

import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import bcrypt
import uvicorn
from fastapi import Depends, FastAPI, HTTPException, status
from fastapi.security import OAuth2PasswordBearer, OAuth2PasswordRequestForm
from pydantic import BaseModel
from sqlalchemy import DateTime, ForeignKey, Integer, String, Text, create_engine, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

try:
    from jose import JWTError, jwt

    JWT_LIBRARY = "python-jose"
except ImportError:  # not installed: PyJWT, chatlink's own dependency
    import jwt  # type: ignore[no-redef]
    from jwt import PyJWTError as JWTError  # type: ignore[assignment]

    JWT_LIBRARY = "PyJWT"

# No `from __future__ import annotations`: FastAPI reads the endpoints' annotations at
# runtime, and the dependencies live inside `build`.
SECRET_KEY = "tutorial secret key, not a real one"
ALGORITHM = "HS256"
HISTORY = 10


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    hashed_password: Mapped[str] = mapped_column(String(128))


class Message(Base):
    __tablename__ = "messages"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    role: Mapped[str] = mapped_column(String(16))
    content: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime)


class UserIn(BaseModel):
    username: str
    password: str


class ChatIn(BaseModel):
    message: str


class ChatOut(BaseModel):
    reply: str


def build(database: str) -> FastAPI:
    engine = create_engine(f"sqlite:///{database}", connect_args={"check_same_thread": False})
    Base.metadata.create_all(engine)
    session_local = sessionmaker(bind=engine, autoflush=False)
    oauth2 = OAuth2PasswordBearer(tokenUrl="token")
    app = FastAPI()

    def get_db() -> Iterator[Session]:
        db = session_local()
        try:
            yield db
        finally:
            db.close()

    Db = Annotated[Session, Depends(get_db)]

    async def current_user(token: Annotated[str, Depends(oauth2)], db: Db) -> User:
        refused = HTTPException(status.HTTP_401_UNAUTHORIZED, "Could not validate credentials")
        try:
            payload: dict[str, Any] = jwt.decode(token, SECRET_KEY, algorithms=[ALGORITHM])
        except JWTError:
            raise refused from None
        user = db.scalar(select(User).where(User.username == payload.get("sub")))
        if user is None:
            raise refused
        return user

    @app.post("/register", status_code=201)
    async def register(body: UserIn, db: Db) -> dict[str, str]:
        hashed = bcrypt.hashpw(body.password.encode(), bcrypt.gensalt()).decode()
        db.add(User(username=body.username, hashed_password=hashed))
        db.commit()
        return {"username": body.username}

    @app.post("/token")
    async def token(
        form: Annotated[OAuth2PasswordRequestForm, Depends()], db: Db
    ) -> dict[str, str]:
        user = db.scalar(select(User).where(User.username == form.username))
        if user is None or not bcrypt.checkpw(
            form.password.encode(), user.hashed_password.encode()
        ):
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "Incorrect username or password")
        expires = datetime.now(UTC) + timedelta(minutes=30)
        access = jwt.encode({"sub": user.username, "exp": expires}, SECRET_KEY, algorithm=ALGORITHM)
        return {"access_token": access, "token_type": "bearer"}

    @app.post("/chat", response_model=ChatOut)
    async def chat(body: ChatIn, user: Annotated[User, Depends(current_user)], db: Db) -> ChatOut:
        db.add(
            Message(user_id=user.id, role="user", content=body.message, created_at=datetime.now())
        )
        db.commit()
        recent = db.scalars(
            select(Message)
            .where(Message.user_id == user.id)
            .order_by(Message.id.desc())
            .limit(HISTORY)
        ).all()
        reply = f"Echo: {body.message} ({len(recent)} recent messages)"
        db.add(Message(user_id=user.id, role="assistant", content=reply, created_at=datetime.now()))
        db.commit()
        return ChatOut(reply=reply)

    @app.get("/count")
    async def count(user: Annotated[User, Depends(current_user)], db: Db) -> dict[str, int]:
        rows = db.scalars(select(Message.id).where(Message.user_id == user.id)).all()
        return {"messages": len(rows)}

    return app


if __name__ == "__main__":
    port, database = int(sys.argv[1]), sys.argv[2]
    print(f"tutorial app: JWT through {JWT_LIBRARY}", flush=True)
    uvicorn.run(build(database), host="127.0.0.1", port=port, log_level="warning")
